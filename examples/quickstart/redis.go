package main

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/dingtoken/dingtoken"
	"github.com/dingtoken/dingtoken/redisstore"
	"github.com/redis/go-redis/v9"
)

// newRedisStore connects to Redis at addr: one address for a single node,
// several separated by commas for a Redis Cluster.
func newRedisStore(addr string) (dingtoken.Store, error) {
	addrs := strings.Split(addr, ",")
	client := redis.NewUniversalClient(&redis.UniversalOptions{
		Addrs:                 addrs,
		IsClusterMode:         len(addrs) > 1,
		ContextTimeoutEnabled: true,
	})
	// A service carries on without Redis; here a failure is more likely a
	// typo in REDIS_ADDR, worth pointing out.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := client.Ping(ctx).Err(); err != nil {
		client.Close()
		return nil, fmt.Errorf("redis at %s: %w", addr, err)
	}
	return redisstore.New(client), nil
}
