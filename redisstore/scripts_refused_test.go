package redisstore

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/dingtoken/dingtoken"
	"github.com/dingtoken/dingtoken/internal/redistest"
	"github.com/redis/go-redis/v9"
)

// TestScriptsRefused: a Redis that runs no script for this client (an ACL
// user without @scripting, or EVAL and EVALSHA renamed away) still shares
// suite tickets and tokens between replicas, with plain one-key commands:
// a Put reaches the other replicas, a cold replica takes the token from
// Redis instead of fetching, the lock holds others off and is released by
// its owner, and Delete drops only the stale token.
func TestScriptsRefused(t *testing.T) {
	for _, tc := range []struct {
		name  string
		start func(t *testing.T) func() redis.UniversalClient
	}{
		{"ACL without @scripting", func(t *testing.T) func() redis.UniversalClient {
			srv := redistest.StartOwn(t)
			if _, err := srv.Do("ACL", "SETUSER", "limited", "on", ">pw", "~*", "+@all", "-@scripting"); err != nil {
				t.Fatal(err)
			}
			return func() redis.UniversalClient {
				c := newClientWith(t, &redis.Options{Addr: srv.Addr, Username: "limited", Password: "pw", ContextTimeoutEnabled: true})
				return c
			}
		}},
		{"EVAL renamed away", func(t *testing.T) func() redis.UniversalClient {
			srv := redistest.StartOwn(t, "--rename-command", "EVAL", "", "--rename-command", "EVALSHA", "")
			return func() redis.UniversalClient { return newClient(t, srv.Addr) }
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			client := tc.start(t)
			prefix := uniquePrefix()
			ctx := context.Background()

			t.Run("suite tickets", func(t *testing.T) {
				replica := func() *dingtoken.SuiteTickets {
					return &dingtoken.SuiteTickets{SuiteKey: "suite-noscript", SuiteSecret: "suite-secret-9a", Store: newStore(t, client(), prefix, countTimeout)}
				}
				if err := replica().Put(ctx, "ticket-noscript", time.Now()); err != nil {
					t.Errorf("Put: %v", err)
				}
				if got, err := replica().Ticket(ctx); err != nil || got != "ticket-noscript" {
					t.Errorf("another replica reads %q, %v; want ticket-noscript", got, err)
				}
			})

			t.Run("manager", func(t *testing.T) {
				sim := newSim(t)
				for i := range 3 {
					m := &dingtoken.Manager{Store: newStore(t, client(), prefix, countTimeout)}
					if err := burst(20, newTestClient(sim, m)); err != nil {
						t.Fatal(err)
					}
					if i > 0 && m.Stats().L2Hits != 1 {
						t.Errorf("cold replica %d: stats %+v; want the token from Redis", i, m.Stats())
					}
				}
				if got := sim.Fetches(testClientID); got != 1 {
					t.Errorf("3 replicas started one after another: %d fetches, want 1", got)
				}
			})

			t.Run("lock and delete", func(t *testing.T) {
				s, other := newStore(t, client(), prefix, countTimeout), newStore(t, client(), prefix, countTimeout)
				unlock, ok, err := s.TryLock(ctx, "app:plain", time.Minute)
				if err != nil || !ok {
					t.Fatalf("TryLock of a free lock = %v, %v; want it taken", ok, err)
				}
				if _, ok, err := other.TryLock(ctx, "app:plain", time.Minute); ok || err != nil {
					t.Errorf("another TryLock = %v, %v; want it refused", ok, err)
				}
				unlock()
				unlock2, ok, err := other.TryLock(ctx, "app:plain", time.Minute)
				if err != nil || !ok {
					t.Fatalf("TryLock after the unlock = %v, %v; want it taken", ok, err)
				}
				unlock() // late: the lock is another owner's now
				if _, ok, _ := s.TryLock(ctx, "app:plain", time.Minute); ok {
					t.Error("an old owner's unlock removed another owner's lock")
				}
				unlock2()

				fresh := dingtoken.Token{Value: "tok-fresh", Expiry: time.Now().Add(time.Hour)}
				if err := s.Save(ctx, "app:plain", fresh); err != nil {
					t.Fatal(err)
				}
				if err := s.Delete(ctx, "app:plain", "tok-stale"); err != nil {
					t.Errorf("Delete of another token: %v", err)
				}
				if got, err := s.Load(ctx, "app:plain"); err != nil || got.Value != fresh.Value {
					t.Errorf("after a Delete of another token: Load = %v, %v; want the fresh token kept", got, err)
				}
				if err := s.Delete(ctx, "app:plain", fresh.Value); err != nil {
					t.Errorf("Delete: %v", err)
				}
				if _, err := s.Load(ctx, "app:plain"); !errors.Is(err, dingtoken.ErrNotFound) {
					t.Errorf("after its Delete: Load err = %v, want ErrNotFound", err)
				}
			})
		})
	}
}
