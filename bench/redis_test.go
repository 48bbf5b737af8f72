package bench

import (
	"context"
	"testing"
	"time"

	"github.com/bradfitz/gomemcache/memcache"
	"github.com/dingtoken/dingtoken"
	"github.com/dingtoken/dingtoken/dingtalktest"
	"github.com/dingtoken/dingtoken/internal/memcachedtest"
	"github.com/dingtoken/dingtoken/internal/redistest"
	"github.com/dingtoken/dingtoken/redisstore"
	"github.com/redis/go-redis/v9"
)

// BenchmarkRedisFirstToken: how long a cold process waits for its first
// token when Redis already has it, against a fetch from DingTalk (simulated
// with a realistic 50 ms answer); BenchmarkFirstToken does the same for
// memcached. Each op is a new Manager and a new Redis client: a process
// start.
func BenchmarkRedisFirstToken(b *testing.B) {
	sim := dingtalktest.NewServer()
	defer sim.Close()
	sim.AddApp("first-redis", "secret")
	sim.SetTokenDelay(50 * time.Millisecond)
	creds := &dingtoken.AppCredentials{ClientID: "first-redis", ClientSecret: "secret", HTTPClient: sim.Client()}
	ctx := context.Background()
	single := []string{redistest.Start(b).Addr}
	cluster := redistest.StartCluster(b, 3).Addrs

	for _, source := range []struct {
		name  string
		addrs []string
	}{{"redis", single}, {"redis-cluster", cluster}} {
		b.Run("source="+source.name, func(b *testing.B) {
			seed := newRedisClient(source.addrs)
			defer seed.Close()
			if _, err := (&dingtoken.Manager{Store: redisstore.New(seed)}).Token(ctx, creds); err != nil {
				b.Fatal(err)
			}
			b.ResetTimer()
			for range b.N {
				client := newRedisClient(source.addrs)
				m := &dingtoken.Manager{Store: redisstore.New(client)}
				if _, err := m.Token(ctx, creds); err != nil {
					b.Fatal(err)
				}
				if m.Stats().L2Hits != 1 {
					b.Fatal("the token did not come from Redis")
				}
				b.StopTimer() // as in BenchmarkFirstToken
				m.Flush(ctx)
				client.Close()
				b.StartTimer()
			}
		})
	}
	b.Run("source=dingtalk", func(b *testing.B) {
		for range b.N {
			if _, err := (&dingtoken.Manager{}).Token(ctx, creds); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkL2RoundTrip: one Store call on a warm client, for each Store:
// load a token, save one, and take and release the refresh lock (two
// calls). The Manager makes these only when a token is missing, expiring or
// rejected, never on a request that finds its token in memory.
func BenchmarkL2RoundTrip(b *testing.B) {
	ctx := context.Background()
	mc := memcache.New(memcachedtest.Start(b).Addr)
	defer mc.Close()
	single := newRedisClient([]string{redistest.Start(b).Addr})
	defer single.Close()
	cluster := newRedisClient(redistest.StartCluster(b, 3).Addrs)
	defer cluster.Close()
	tok := dingtoken.Token{Value: "dts1.c2VhbGVkLXRva2VuLW9mLXR5cGljYWwtbGVuZ3RoLWZvci1kaW5ndGFsaw", Expiry: time.Now().Add(time.Hour)}

	for _, store := range []struct {
		name string
		s    dingtoken.Store
	}{
		{"memcached", dingtoken.NewMemcacheStore(mc)},
		{"redis", redisstore.New(single)},
		{"redis-cluster", redisstore.New(cluster)},
	} {
		if err := store.s.Save(ctx, "app:bench", tok); err != nil {
			b.Fatal(err)
		}
		b.Run("store="+store.name+"/op=load", func(b *testing.B) {
			for range b.N {
				if _, err := store.s.Load(ctx, "app:bench"); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run("store="+store.name+"/op=save", func(b *testing.B) {
			for range b.N {
				if err := store.s.Save(ctx, "app:bench", tok); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run("store="+store.name+"/op=lock+unlock", func(b *testing.B) {
			l := store.s.(dingtoken.Locker)
			for range b.N {
				unlock, ok, err := l.TryLock(ctx, "app:bench", 15*time.Second)
				if err != nil || !ok {
					b.Fatal(ok, err)
				}
				unlock()
			}
		})
	}
}

// newRedisClient connects to one node, or to a Cluster given several
// addresses, as a service would.
func newRedisClient(addrs []string) redis.UniversalClient {
	return redis.NewUniversalClient(&redis.UniversalOptions{Addrs: addrs, IsClusterMode: len(addrs) > 1, ContextTimeoutEnabled: true})
}
