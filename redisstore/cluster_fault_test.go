package redisstore

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/dingtoken/dingtoken"
	"github.com/dingtoken/dingtoken/internal/redistest"
	"github.com/redis/go-redis/v9"
)

// Faults of a Redis Cluster under a refresh: the slot of the token moving
// to another master, and its master failing over to its replica, while one
// replica of the service holds the refresh lock and another waits for its
// token.

type tokenResult struct {
	t   dingtoken.Token
	err error
}

// refreshAcross starts a refresh on holder, whose fetch waits on g, then
// one on waiter once the holder's lock is in Redis, and calls change while
// the waiter waits for the holder's token. It then lets the fetch go and
// returns both results.
func refreshAcross(t *testing.T, holder, waiter *dingtoken.Manager, g *gatedFetcher, change func()) [2]tokenResult {
	t.Helper()
	results := make(chan tokenResult, 2)
	for i, m := range []*dingtoken.Manager{holder, waiter} {
		go func() {
			tok, err := m.Token(context.Background(), g)
			results <- tokenResult{tok, err}
		}()
		if i == 0 {
			<-g.started // the holder's lock is in Redis
		}
	}
	waitFor(t, "the waiter to wait for the holder's token", func() bool { return waiter.Stats().LockWaits == 1 })
	change()
	close(g.release)
	return [2]tokenResult{<-results, <-results}
}

// checkTokens fails unless both refreshes got a token, from at most
// fetches fetches, and, once the Managers have flushed their background
// work, the token is under key, no lock left behind for its ttl.
func checkTokens(t *testing.T, sim interface{ Fetches(string) int }, got [2]tokenResult, fetches int, c redis.UniversalClient, key string, ms ...*dingtoken.Manager) {
	t.Helper()
	for i, r := range got {
		if r.err != nil || r.t.Value == "" {
			t.Errorf("refresh %d = %v, %v; want a token", i, r.t, r.err)
		}
	}
	if n := sim.Fetches(testClientID); n < 1 || n > fetches {
		for _, m := range ms {
			t.Logf("stats %+v", m.Stats())
		}
		t.Errorf("%d fetches, want 1 to %d", n, fetches)
	}
	for _, m := range ms {
		if err := m.Flush(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	v, err := c.Get(context.Background(), key).Result()
	if err != nil || !strings.HasPrefix(v, "dt1;") || strings.HasPrefix(v, lockValue) {
		t.Errorf("GET %s = %q, %v; want the token, no lock left", key, v, err)
	}
}

// TestClusterSlotMovesMidRefresh: the slot of the token, with the refresh
// lock in it, is migrated to another master while the holder fetches:
// left mid-migration (the source answers ASK) or finished (MOVED). The
// scripts run on the new master (which has never seen them), the waiter
// gets the holder's token, and the token takes the lock's place there.
func TestClusterSlotMovesMidRefresh(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		finish bool
	}{{"ASK: migration under way", false}, {"MOVED: migration finished", true}} {
		t.Run(tc.name, func(t *testing.T) {
			cluster := redistest.StartCluster(t, 3)
			r := newClusterRefresh(t, cluster)
			from, slot, key := r.from, r.slot, r.key
			var to clusterNode
			for _, n := range clusterNodes(t, cluster.Addrs[0]) {
				if n.primary && n.id != from.id {
					to = n
				}
			}
			got := refreshAcross(t, r.holder, r.waiter, r.g, func() {
				if v, _ := do(t, from.addr, "GET", key).(string); !strings.HasPrefix(v, lockValue) {
					t.Fatalf("GET %s = %q, want the refresh lock", key, v)
				}
				host, port, _ := strings.Cut(to.addr, ":")
				do(t, to.addr, "CLUSTER", "SETSLOT", itoa(int64(slot)), "IMPORTING", from.id)
				do(t, from.addr, "CLUSTER", "SETSLOT", itoa(int64(slot)), "MIGRATING", to.id)
				do(t, from.addr, "MIGRATE", host, port, "", "0", "5000", "KEYS", key)
				if tc.finish {
					for _, addr := range append([]string{to.addr, from.addr}, cluster.Addrs...) {
						do(t, addr, "CLUSTER", "SETSLOT", itoa(int64(slot)), "NODE", to.id)
					}
				}
			})
			if got[0].t.Value != got[1].t.Value {
				t.Errorf("the two replicas hold different tokens")
			}
			checkTokens(t, r.sim, got, 1, newClusterClient(t, cluster.Addrs), key, r.holder, r.waiter)
			if n := do(t, from.addr, "DBSIZE"); n != int64(0) {
				t.Errorf("the old master holds %v keys, want 0", n)
			}
		})
	}
}

// TestScriptFlushBetweenCalls: SCRIPT FLUSH between every call (as after a
// failover to a replica that never ran the scripts, or a restart): each
// call runs its script again with EVAL, on one node and on a Cluster.
func TestScriptFlushBetweenCalls(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name  string
		start func(t *testing.T) (redis.UniversalClient, []string)
	}{
		{"single node", func(t *testing.T) (redis.UniversalClient, []string) {
			srv := redistest.StartOwn(t)
			return newClient(t, srv.Addr), []string{srv.Addr}
		}},
		{"cluster", func(t *testing.T) (redis.UniversalClient, []string) {
			c := redistest.StartCluster(t, 3)
			return newClusterClient(t, c.Addrs), c.Addrs
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, addrs := tc.start(t)
			flush := func() {
				for _, a := range addrs {
					do(t, a, "SCRIPT", "FLUSH")
				}
			}
			s := newStore(t, c, uniquePrefix(), countTimeout)
			ctx := context.Background()
			const key = "app:flushed"
			flush()
			_, held, err := s.LoadOrLock(ctx, key, dingtoken.Token{}, time.Minute)
			if err != nil || held == nil {
				t.Fatalf("LoadOrLock = %v, %v; want the lock", held, err)
			}
			flush()
			if err := held.Extend(ctx, time.Minute); err != nil {
				t.Fatalf("Extend: %v", err)
			}
			flush()
			tok := dingtoken.Token{Value: "tok-flushed", Expiry: time.Now().Add(time.Hour)}
			if err := s.Save(ctx, key, tok); err != nil {
				t.Fatal(err)
			}
			flush()
			if got, held, err := s.LoadOrLock(ctx, key, dingtoken.Token{}, time.Minute); err != nil || held != nil || got.Value != tok.Value {
				t.Fatalf("LoadOrLock = %v, %v, %v; want the token", got, held, err)
			}
			flush()
			if err := s.Delete(ctx, key, tok.Value); err != nil {
				t.Fatal(err)
			}
			if _, err := s.Load(ctx, key); !errors.Is(err, dingtoken.ErrNotFound) {
				t.Fatalf("Load after Delete: %v, want ErrNotFound", err)
			}
			flush()
			unlock, ok, err := s.TryLock(ctx, key, time.Minute)
			if err != nil || !ok {
				t.Fatalf("TryLock = %v, %v", ok, err)
			}
			flush()
			unlock()
			if n, err := c.Exists(ctx, s.lockKey(key)).Result(); err != nil || n != 0 {
				t.Errorf("EXISTS lock after unlock = %v, %v; want 0", n, err)
			}
		})
	}
}
