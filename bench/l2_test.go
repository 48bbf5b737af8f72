package bench

import (
	"context"
	"testing"
	"time"

	"github.com/bradfitz/gomemcache/memcache"
	"github.com/dingtoken/dingtoken"
	"github.com/dingtoken/dingtoken/dingtalktest"
	"github.com/dingtoken/dingtoken/internal/memcachedtest"
)

// BenchmarkFirstToken: how long a cold process waits for its first token
// when memcached already has it, against a fetch from DingTalk (simulated
// with a realistic 50 ms answer). Each op is a new Manager and, for
// memcached, a new client: a process start.
func BenchmarkFirstToken(b *testing.B) {
	sim := dingtalktest.NewServer()
	defer sim.Close()
	sim.AddApp("first", "secret")
	sim.SetTokenDelay(50 * time.Millisecond)
	creds := &dingtoken.AppCredentials{ClientID: "first", ClientSecret: "secret", HTTPClient: sim.Client()}
	ctx := context.Background()

	b.Run("source=memcached", func(b *testing.B) {
		mc := memcachedtest.Start(b)
		seed := &dingtoken.Manager{Store: dingtoken.NewMemcacheStore(memcache.New(mc.Addr))}
		if _, err := seed.Token(ctx, creds); err != nil {
			b.Fatal(err)
		}
		b.ResetTimer()
		for range b.N {
			client := memcache.New(mc.Addr)
			m := &dingtoken.Manager{Store: dingtoken.NewMemcacheStore(client)}
			if _, err := m.Token(ctx, creds); err != nil {
				b.Fatal(err)
			}
			if m.Stats().L2Hits != 1 {
				b.Fatalf("the token did not come from memcached: %+v", m.Stats())
			}
			// As a process that exits: the lock taken with the load is
			// released before the client closes, or its connection leaks.
			b.StopTimer()
			m.Flush(ctx)
			client.Close()
			b.StartTimer()
		}
	})
	b.Run("source=dingtalk", func(b *testing.B) {
		for range b.N {
			if _, err := (&dingtoken.Manager{}).Token(ctx, creds); err != nil {
				b.Fatal(err)
			}
		}
	})
}
