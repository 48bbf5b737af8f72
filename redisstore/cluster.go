package redisstore

import (
	"context"
	"errors"

	"github.com/redis/go-redis/v9"
)

// go-redis's ClusterClient learns that a slot has a new master from a
// MOVED reply, or when it reloads its slot map, once a minute. A master
// that died sends no MOVED: until the reload, every command for its slots
// goes to the dead address and fails, and a lock its replica took over is
// neither saved over nor released. So a call that failed without a reply
// from Redis (a refused or lost connection, a timeout) asks the client to
// reload its map in the background; the calls after it (the release of the
// lock, the next refresh) reach the promoted replica.

// reloadSlotsAfter has a ClusterClient reload its slot map if err came
// without a reply from Redis.
func (s *Store) reloadSlotsAfter(err error) {
	c, ok := s.client.(*redis.ClusterClient)
	if !ok || err == nil {
		return
	}
	var reply redis.Error
	if errors.As(err, &reply) || errors.Is(err, redis.ErrClosed) {
		return
	}
	c.ReloadState(context.Background())
}
