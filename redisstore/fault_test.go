package redisstore

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/dingtoken/dingtoken"
	"github.com/dingtoken/dingtoken/dingtalktest"
	"github.com/dingtoken/dingtoken/internal/redistest"
	"github.com/redis/go-redis/v9"
)

// Faults of Redis itself: killed, unreachable, slow, flushed, failing over,
// and answers lost in flight. Requests must never fail, and a dead Redis
// must cost a fetch per refresh, not per request.

// appClient is a service's HTTP client for app id (added to sim) on m.
func appClient(sim *dingtalktest.Server, m *dingtoken.Manager, id string) *http.Client {
	sim.AddApp(id, testSecret)
	creds := &dingtoken.AppCredentials{ClientID: id, ClientSecret: testSecret, HTTPClient: sim.Client()}
	return &http.Client{Transport: &dingtoken.Transport{Fetcher: creds, Manager: m, Base: sim.Transport()}}
}

// checkFetches fails unless sim has issued want tokens to each app.
func checkFetches(t *testing.T, sim *dingtalktest.Server, stage string, want map[string]int) {
	t.Helper()
	for id, n := range want {
		if got := sim.Fetches(id); got != n {
			t.Errorf("%s: %s fetched %d times, want %d", stage, id, got, n)
		}
	}
}

// TestRedisKilledMidRun: Redis dies while a burst meets a revoked token,
// stays down while another app starts cold, and comes back empty.
func TestRedisKilledMidRun(t *testing.T) {
	srv := redistest.StartOwn(t)
	sim := newSim(t)
	m := &dingtoken.Manager{Store: newStore(t, newClient(t, srv.Addr), uniquePrefix(), 0)}
	first, second, third := appClient(sim, m, "app-first"), appClient(sim, m, "app-second"), appClient(sim, m, "app-third")

	if err := burst(50, first); err != nil {
		t.Fatalf("Redis up: %v", err)
	}
	sim.Revoke(sim.CurrentToken("app-first"))
	killed := make(chan struct{})
	go func() { defer close(killed); srv.Stop() }()
	if err := burst(100, first); err != nil {
		t.Fatalf("Redis killed during a burst with a revoked token: %v", err)
	}
	<-killed
	if err := burst(50, first, second); err != nil {
		t.Fatalf("Redis down, a second app cold: %v", err)
	}
	checkFetches(t, sim, "Redis down", map[string]int{"app-first": 2, "app-second": 1})
	if m.Stats().StoreErrors == 0 {
		t.Error("the outage left no StoreErrors")
	}

	srv.Restart()
	if err := burst(50, first, second, third); err != nil {
		t.Fatalf("Redis back, empty: %v", err)
	}
	checkFetches(t, sim, "Redis back", map[string]int{"app-first": 2, "app-second": 1, "app-third": 1})
	// The restarted Redis serves the next replica.
	replica := &dingtoken.Manager{Store: newStore(t, newClient(t, srv.Addr), m.Store.(*Store).Prefix, countTimeout)}
	if err := burst(10, appClient(sim, replica, "app-third")); err != nil {
		t.Fatal(err)
	}
	if st := replica.Stats(); st.L2Hits != 1 || sim.Fetches("app-third") != 1 {
		t.Errorf("a replica started after the restart: stats %+v, %d fetches; want the token from Redis", st, sim.Fetches("app-third"))
	}
}

// TestClosedPortCostsLittle: with nothing listening where Redis should be,
// four apps start cold and see a revocation each: every request succeeds,
// one fetch per refresh, in well under 10 s.
func TestClosedPortCostsLittle(t *testing.T) {
	sim := newSim(t)
	m := &dingtoken.Manager{Store: newStore(t, newClient(t, redistest.ClosedAddr(t)), uniquePrefix(), 0)}
	start := time.Now()
	want := map[string]int{}
	for _, id := range []string{"app-a", "app-b", "app-c", "app-d"} {
		c := appClient(sim, m, id)
		if err := burst(20, c); err != nil {
			t.Fatal(err)
		}
		sim.Revoke(sim.CurrentToken(id))
		if err := burst(20, c); err != nil {
			t.Fatal(err)
		}
		want[id] = 2
	}
	checkFetches(t, sim, "Redis unreachable", want)
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("160 requests and 8 refreshes took %v with Redis unreachable, want well under 10 s", d)
	}
	if m.Stats().StoreErrors == 0 {
		t.Error("no StoreErrors counted")
	}
}

// TestSlowRedisEachCallGivesUp: a Redis whose every answer comes 500 ms
// late (2.5 times DefaultTimeout) costs each call DefaultTimeout, whether
// or not the client has ContextTimeoutEnabled, and fails no request.
func TestSlowRedisEachCallGivesUp(t *testing.T) {
	srv := redistest.Start(t)
	for _, ctxTimeout := range []bool{true, false} {
		name := "ContextTimeoutEnabled=false"
		if ctxTimeout {
			name = "ContextTimeoutEnabled=true"
		}
		t.Run(name, func(t *testing.T) {
			proxy := redistest.NewProxy(t, srv.Addr)
			proxy.SetDelay(500 * time.Millisecond)
			c := newClientWith(t, &redis.Options{Addr: proxy.Addr, ContextTimeoutEnabled: ctxTimeout})
			s := newStore(t, c, uniquePrefix(), 0)

			for _, call := range []func() error{
				func() error { _, err := s.Load(context.Background(), "app:slow"); return err },
				func() error {
					return s.Save(context.Background(), "app:slow", dingtoken.Token{Value: "tok", Expiry: time.Now().Add(time.Hour)})
				},
				func() error { _, _, err := s.TryLock(context.Background(), "app:slow", time.Minute); return err },
			} {
				start := time.Now()
				err := call()
				if d := time.Since(start); !errors.Is(err, context.DeadlineExceeded) || d > DefaultTimeout+400*time.Millisecond {
					t.Errorf("call against a slow Redis: %v after %v; want context.DeadlineExceeded after about %v", err, d, DefaultTimeout)
				}
			}

			sim := newSim(t)
			m := &dingtoken.Manager{Store: s}
			if err := burst(50, newTestClient(sim, m)); err != nil {
				t.Fatal(err)
			}
			if got := sim.Fetches(testClientID); got != 1 {
				t.Errorf("%d fetches, want 1", got)
			}
			if m.Stats().StoreErrors == 0 {
				t.Error("no StoreErrors counted")
			}
		})
	}
}

// TestFlushedRedis: FLUSHALL under a running deployment costs the next cold
// replica one fetch, and nothing else.
func TestFlushedRedis(t *testing.T) {
	srv := redistest.Start(t)
	sim := newSim(t)
	prefix := uniquePrefix()
	replica := func() (*dingtoken.Manager, *http.Client) {
		m := &dingtoken.Manager{Store: newStore(t, newClient(t, srv.Addr), prefix, countTimeout)}
		return m, newTestClient(sim, m)
	}
	_, c1 := replica()
	if err := burst(50, c1); err != nil {
		t.Fatal(err)
	}
	if _, err := srv.Do("FLUSHALL"); err != nil {
		t.Fatal(err)
	}
	_, c2 := replica()
	if err := burst(50, c1, c2); err != nil {
		t.Fatalf("after FLUSHALL: %v", err)
	}
	m3, c3 := replica()
	if err := burst(50, c1, c2, c3); err != nil {
		t.Fatal(err)
	}
	if got := sim.Fetches(testClientID); got != 2 {
		t.Errorf("%d fetches, want 2 (the first replica's, and the one after the flush)", got)
	}
	if st := m3.Stats(); st.L2Hits != 1 {
		t.Errorf("the replica started after the refill: stats %+v, want its token from Redis", st)
	}
}

// lockKind is one of the Store's two locks: TryLock's, apart from the
// token, and LoadOrLock's, in the token's place.
type lockKind struct {
	name string
	// take tries the lock on key for a minute. A token found instead is an
	// error.
	take func(ctx context.Context, s *Store, key string) (unlock func(), ok bool, err error)
	// where is the Redis key the lock lives under.
	where func(s *Store, key string) string
}

var lockKinds = []lockKind{
	{"TryLock", func(ctx context.Context, s *Store, key string) (func(), bool, error) {
		return s.TryLock(ctx, key, time.Minute)
	}, (*Store).lockKey},
	{"LoadOrLock", func(ctx context.Context, s *Store, key string) (func(), bool, error) {
		t, lock, err := s.LoadOrLock(ctx, key, dingtoken.Token{}, time.Minute)
		if t.Value != "" {
			return nil, false, fmt.Errorf("a token instead of the lock: %v", t)
		}
		if lock == nil {
			return nil, false, err
		}
		return lock.Unlock, true, err
	}, (*Store).tokenKey},
}

// warm opens a connection through the proxy and loads the lock scripts, so
// that the next answer the proxy sees is the next lock's.
func warm(t *testing.T, s *Store) {
	t.Helper()
	for _, k := range lockKinds {
		unlock, ok, err := k.take(context.Background(), s, "app:warm-up")
		if err != nil || !ok {
			t.Fatalf("warm-up %s = %v, %v", k.name, ok, err)
		}
		unlock()
	}
}

// TestLostLockAnswerIsResent: Redis takes the lock, its answer is lost with
// the connection, and go-redis sends the script again: the second run finds
// the lock ours, and the lock is reported taken. A plain SET NX would find
// "another holder" and leave the lock held by nobody for its whole ttl.
func TestLostLockAnswerIsResent(t *testing.T) {
	for _, k := range lockKinds {
		t.Run(k.name, func(t *testing.T) {
			srv, proxy, s := warmStoreBehindProxy(t, countTimeout)
			proxy.CutNextAnswer()
			unlock, ok, err := k.take(context.Background(), s, "app:lost")
			if err != nil || !ok {
				t.Fatalf("%s whose first answer was lost = %v, %v; want the lock taken", k.name, ok, err)
			}
			other := newStore(t, newClient(t, srv.Addr), s.Prefix, countTimeout)
			if _, ok, err := k.take(context.Background(), other, "app:lost"); ok || err != nil {
				t.Fatalf("another process's %s = %v, %v; want our lock found", k.name, ok, err)
			}
			unlock()
			if n, err := srv.Do("EXISTS", k.where(s, "app:lost")); err != nil || n != int64(0) {
				t.Errorf("after unlock: EXISTS = %v, %v; want 0", n, err)
			}
		})
	}
}

// TestUncertainLockIsReleased: Redis takes the lock but its answer comes
// after the Store gave up. The lock is reported with the error, as maybe
// ours, and its release removes it rather than leaving it to block the
// other processes for its ttl.
func TestUncertainLockIsReleased(t *testing.T) {
	for _, k := range lockKinds {
		t.Run(k.name, func(t *testing.T) {
			srv, proxy, s := warmStoreBehindProxy(t, 300*time.Millisecond)
			proxy.HoldNextAnswer(3 * time.Second)
			unlock, ok, err := k.take(context.Background(), s, "app:late")
			if err == nil || !ok || unlock == nil {
				t.Fatalf("%s whose answer is late = %v, %v; want the error, and the lock as maybe ours", k.name, ok, err)
			}
			if n, err := srv.Do("EXISTS", k.where(s, "app:late")); err != nil || n != int64(1) {
				t.Fatalf("the late %s's lock: EXISTS = %v, %v; want 1, taken", k.name, n, err)
			}
			unlock() // done with the refresh: the lock goes if it is ours
			if n, err := srv.Do("EXISTS", k.where(s, "app:late")); err != nil || n != int64(0) {
				t.Errorf("after a %s with a late answer: EXISTS = %v, %v; want 0, released", k.name, n, err)
			}
		})
	}
}

// TestSentinelFailover: the primary dies under a running deployment; the
// Sentinel promotes the replica, which has the token; requests never fail,
// and a revocation afterwards costs one fetch for two replicas.
func TestSentinelFailover(t *testing.T) {
	t.Parallel()
	sentinel := redistest.StartSentinel(t)
	sim := newSim(t)
	prefix := uniquePrefix()
	m1 := &dingtoken.Manager{Store: newStore(t, newFailoverClient(t, sentinel), prefix, countTimeout)}
	c1 := newTestClient(sim, m1)
	if err := burst(50, c1); err != nil {
		t.Fatal(err)
	}
	key := m1.Store.(*Store).tokenKey(appCreds(sim).Key())
	waitFor(t, "the replica to hold the token", func() bool { n, _ := sentinel.Replica.Do("EXISTS", key); return n == int64(1) })

	sentinel.Primary.Stop()
	if err := burst(50, c1); err != nil {
		t.Fatalf("primary down: %v", err)
	}
	waitFor(t, "the Sentinel to promote the replica", func() bool { a, _ := sentinel.MasterAddr(); return a == sentinel.Replica.Addr })
	probe := m1.Store.(*Store)
	waitFor(t, "the client to reach the new primary", func() bool {
		return probe.Save(context.Background(), "app:probe", dingtoken.Token{Value: "tok-probe", Expiry: time.Now().Add(time.Minute)}) == nil
	})

	m2 := &dingtoken.Manager{Store: newStore(t, newFailoverClient(t, sentinel), prefix, countTimeout)}
	c2 := newTestClient(sim, m2)
	if err := burst(50, c1, c2); err != nil {
		t.Fatalf("after the failover: %v", err)
	}
	if st := m2.Stats(); st.L2Hits != 1 {
		t.Errorf("a replica started after the failover: stats %+v, want the token from the promoted replica", st)
	}
	sim.RevokeAll()
	if err := burst(100, c1, c2); err != nil {
		t.Fatalf("revoked after the failover: %v", err)
	}
	if got := sim.Fetches(testClientID); got != 2 {
		t.Logf("m1 %+v\nm2 %+v", m1.Stats(), m2.Stats())
		t.Errorf("%d fetches, want 2 (the first token, one refresh after the revocation)", got)
	}
}

// waitFor polls cond for up to 30 s, for what only Redis's own timers make true.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("waited 30 s for %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
