package dingtoken

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bradfitz/gomemcache/memcache"
	"github.com/dingtoken/dingtoken/internal/memcachedtest"
	"github.com/dingtoken/dingtoken/internal/redistest"
)

// Faults of the cluster refresh: lock holders that cannot save, die, or are
// slow, and lock replies that get lost. Each replica is a Manager of its own
// on a memcached client of its own, as in separate processes.

// replicas returns n Managers, each on its own patient memcached client for
// addrs.
func replicas(n int, configure func(*Manager), addrs ...string) []*Manager {
	ms := make([]*Manager, n)
	for i := range ms {
		ms[i] = &Manager{Store: NewMemcacheStore(patientMemcache(addrs...))}
		if configure != nil {
			configure(ms[i])
		}
	}
	return ms
}

// coldStart asks every replica for f's token at once, each with a context
// of timeout, and returns the tokens and how long each call took.
func coldStart(t *testing.T, ms []*Manager, f func() Fetcher, timeout time.Duration) ([]string, []time.Duration) {
	t.Helper()
	tokens := make([]string, len(ms))
	took := make([]time.Duration, len(ms))
	errs := run(len(ms), func(i int) error {
		ctx, cancel := context.WithTimeout(context.Background(), timeout)
		defer cancel()
		start := time.Now()
		tok, err := ms[i].Token(ctx, f())
		took[i] = time.Since(start)
		tokens[i] = tok.Value
		if err != nil {
			return fmt.Errorf("replica %d after %v: %w", i, took[i], err)
		}
		return nil
	})
	for _, err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
	return tokens, took
}

// TestLockHolderThatCannotSaveDoesNotStallOthers: with two memcached servers
// and one of them down, a key whose lock lives on the live server and whose
// token lives on the dead one. The holder cannot save; the others must not
// wait for a token that never comes. (The lock is a Locker's, apart from the
// token; a TokenLocker's lock lives on the token's server.)
func TestLockHolderThatCannotSaveDoesNotStallOthers(t *testing.T) {
	srv := newSim(t)
	srv.SetTokenDelay(100 * time.Millisecond)
	live, dead := memcachedtest.Start(t).Addr, memcachedtest.ClosedAddr(t)
	probe := memcache.New(live, dead)
	id := ""
	for i := range 1000 {
		c := fmt.Sprintf("ding-split-%d", i)
		lockLands := probe.Set(&memcache.Item{Key: memcacheKey("lock:app:" + c), Value: []byte("x"), Expiration: 1}) == nil
		tokenLands := probe.Set(&memcache.Item{Key: memcacheKey("app:" + c), Value: []byte("x"), Expiration: 1}) == nil
		if lockLands && !tokenLands {
			probe.Delete(memcacheKey("lock:app:" + c))
			id = c
			break
		}
	}
	if id == "" {
		t.Fatal("no client ID puts its lock on the live server and its token on the dead one")
	}
	srv.AddApp(id, testSecret)
	ms := replicas(4, func(m *Manager) { m.Store = lockerOnly(m.Store.(*MemcacheStore)) }, live, dead)
	creds := func() Fetcher { return &AppCredentials{ClientID: id, ClientSecret: testSecret, Endpoint: srv.URL} }
	_, took := coldStart(t, ms, creds, 3*time.Second)
	for i, d := range took {
		if d > 2*time.Second {
			t.Errorf("replica %d took %v; the holder could not save, so it should have fetched at once", i, d)
		}
	}
	if got := srv.Fetches(id); got > len(ms) {
		t.Errorf("%d fetches for %d replicas, want at most one each", got, len(ms))
	}
}

// saveFails is a Store that takes everything but saves, as memcached does
// with a value over its item size limit.
type saveFails struct{ *MemoryStore }

func (s saveFails) Save(context.Context, string, Token) error {
	return errors.New("SERVER_ERROR object too large for cache")
}

func TestWaitersFetchWhenTheHolderSavesNothing(t *testing.T) {
	srv := newSim(t)
	srv.SetTokenDelay(300 * time.Millisecond)
	store := saveFails{NewMemoryStore()}
	ms := make([]*Manager, 4)
	for i := range ms {
		ms[i] = &Manager{Store: store}
	}
	_, took := coldStart(t, ms, func() Fetcher { return appCreds(srv) }, 5*time.Second)
	for i, d := range took {
		// The holder's fetch, then one's own: 2 × 300 ms, not the old 5 s wait.
		if d > 2*time.Second {
			t.Errorf("replica %d took %v, want about 600 ms", i, d)
		}
	}
}

// TestDeadLockHolderLeavesTimeForOurFetch: a process took the lock and died.
// The others wait for the lock to expire and then fetch with a whole
// RefreshTimeout, however short it is. The lock is in the token's place, or
// a Locker's, apart from it.
func TestDeadLockHolderLeavesTimeForOurFetch(t *testing.T) {
	t.Run("in the token's place", func(t *testing.T) {
		testDeadLockHolder(t, func(f Fetcher) string { return f.Key() }, memcacheLockValue+"dead-holder",
			func(s *MemcacheStore) Store { return s })
	})
	t.Run("apart", func(t *testing.T) {
		testDeadLockHolder(t, func(f Fetcher) string { return "lock:" + f.Key() }, "dead-holder",
			func(s *MemcacheStore) Store { return lockerOnly(s) })
	})
}

func testDeadLockHolder(t *testing.T, lockKey func(Fetcher) string, lock string, store func(*MemcacheStore) Store) {
	srv := newSim(t)
	srv.SetTokenDelay(300 * time.Millisecond)
	mc := memcachedtest.Start(t)
	f := appCreds(srv)
	if err := patientMemcache(mc.Addr).Add(&memcache.Item{Key: memcacheKey(lockKey(f)), Value: []byte(lock), Expiration: 2}); err != nil {
		t.Fatal(err)
	}
	m := &Manager{Store: store(NewMemcacheStore(patientMemcache(mc.Addr))), RefreshTimeout: time.Second}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	start := time.Now()
	if _, err := m.Token(ctx, f); err != nil {
		t.Fatalf("after a dead holder's lock expired: %v", err)
	}
	// The lock lives 1 to 2 s (memcached's clock ticks in whole seconds).
	if took := time.Since(start); took < 500*time.Millisecond {
		t.Errorf("the token came after %v: the dead holder's lock was not waited for", took)
	}
	if got := srv.Fetches(testClientID); got != 1 {
		t.Errorf("fetches %d, want 1", got)
	}
}

// TestSlowTokenEndpointOneFetchPerCluster: DingTalk takes 6 s to answer; the
// replicas that did not get the lock wait for the holder's token instead of
// piling on a slow endpoint.
func TestSlowTokenEndpointOneFetchPerCluster(t *testing.T) {
	if testing.Short() {
		t.Skip("takes 6 s")
	}
	srv := newSim(t)
	srv.SetTokenDelay(6 * time.Second)
	mc := memcachedtest.Start(t)
	tokens, _ := coldStart(t, replicas(6, nil, mc.Addr), func() Fetcher { return appCreds(srv) }, 20*time.Second)
	if got := srv.Fetches(testClientID); got != 1 {
		t.Errorf("6 cold replicas made %d token requests to a slow DingTalk, want 1", got)
	}
	for i, tok := range tokens {
		if tok != tokens[0] {
			t.Errorf("replica %d got another token", i)
		}
	}
}

// lostAddReply forwards to memcached, but once a connection has carried an
// add of a key that starts with key (after the prefix), holds every reply on
// it for delay: the add is stored, and its reply comes after the client has
// given up.
func lostAddReply(t *testing.T, target, key string, delay time.Duration) *tcpFault {
	return newTCPFault(t, func(c net.Conn) {
		up, err := net.Dial("tcp", target)
		if err != nil {
			return
		}
		var mu sync.Mutex
		slow := false
		done := make(chan struct{})
		go func() {
			defer close(done)
			buf := make([]byte, 4096)
			for {
				n, err := up.Read(buf)
				if n > 0 {
					mu.Lock()
					hold := slow
					mu.Unlock()
					if hold {
						time.Sleep(delay)
					}
					if _, werr := c.Write(buf[:n]); werr != nil {
						break
					}
				}
				if err != nil {
					break
				}
			}
			c.Close()
		}()
		buf := make([]byte, 4096)
		for {
			n, err := c.Read(buf)
			if n > 0 {
				if bytes.Contains(buf[:n], []byte("add "+memcacheKeyPrefix+key)) {
					mu.Lock()
					slow = true
					mu.Unlock()
				}
				if _, werr := up.Write(buf[:n]); werr != nil {
					break
				}
			}
			if err != nil {
				break
			}
		}
		up.Close()
		<-done
	})
}

// TestLostLockReplyLeavesNoLock: memcached stores the lock, but its reply
// arrives after the client's timeout. The caller acts as the holder, and
// its release removes the lock, instead of leaving it to hold every other
// process off for the lock's whole TTL.
func TestLostLockReplyLeavesNoLock(t *testing.T) {
	mc := memcachedtest.Start(t)
	proxy := lostAddReply(t, mc.Addr, "lock:", 300*time.Millisecond)
	store := NewMemcacheStore(memcache.New(proxy.addr()))
	unlock, ok, err := store.TryLock(context.Background(), "app:lost-reply", lockTTL)
	if err == nil || !ok || unlock == nil {
		t.Fatalf("TryLock through a lost reply = %v, %v; want the timeout, and the lock as maybe ours", ok, err)
	}
	direct := patientMemcache(mc.Addr)
	if _, err := direct.Get(memcacheKey("lock:app:lost-reply")); err != nil {
		t.Fatalf("the add did not reach memcached (%v); the fault is not what this test needs", err)
	}
	unlock() // done with the refresh: the lock goes if it is ours
	// The lock would live 15 s; the cleanup takes a round trip or two.
	for deadline := time.Now().Add(3 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		if _, err := direct.Get(memcacheKey("lock:app:lost-reply")); errors.Is(err, memcache.ErrCacheMiss) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the lock whose reply was lost is still there after 3 s")
		}
	}
	// Another process now takes the lock at once.
	if _, ok, err := NewMemcacheStore(direct).TryLock(context.Background(), "app:lost-reply", lockTTL); !ok || err != nil {
		t.Errorf("after the cleanup, TryLock = %v, %v; want the lock", ok, err)
	}
}

// TestLostLoadOrLockReplyLeavesNoLock: as TestLostLockReplyLeavesNoLock,
// for the lock in the token's place.
func TestLostLoadOrLockReplyLeavesNoLock(t *testing.T) {
	mc := memcachedtest.Start(t)
	proxy := lostAddReply(t, mc.Addr, "app:", 300*time.Millisecond)
	store := NewMemcacheStore(memcache.New(proxy.addr()))
	_, lock, err := store.LoadOrLock(context.Background(), "app:lost-reply", Token{}, lockTTL)
	if err == nil || lock == nil {
		t.Fatalf("LoadOrLock through a lost reply = %v, %v; want the timeout, and the lock as maybe ours", lock, err)
	}
	direct := NewMemcacheStore(patientMemcache(mc.Addr))
	if got, other, err := direct.LoadOrLock(context.Background(), "app:lost-reply", Token{}, lockTTL); other != nil || err != nil || got.Value != "" {
		t.Fatalf("the add did not reach memcached (%v, %v, %v); the fault is not what this test needs", got, other, err)
	}
	lock.Unlock()
	for deadline := time.Now().Add(3 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		if _, next, err := direct.LoadOrLock(context.Background(), "app:lost-reply", Token{}, lockTTL); next != nil && err == nil {
			next.Unlock()
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the lock whose reply was lost is still there after 3 s")
		}
	}
}

func TestFailedLockReleaseIsLogged(t *testing.T) {
	mc := memcachedtest.StartOwn(t)
	logger, logs := newLogger()
	store := NewMemcacheStore(patientMemcache(mc.Addr))
	store.Logger = logger
	unlock, ok, err := store.TryLock(context.Background(), "app:release", lockTTL)
	if !ok || err != nil {
		t.Fatal(ok, err)
	}
	mc.Stop()
	unlock()
	if !strings.Contains(logs.String(), "could not release the refresh lock") {
		t.Errorf("a failed release was not logged: %q", logs.String())
	}
}

// TestFollowersGetTheTokenRightAfterTheHolder: the replicas that wait for
// the lock holder have its token within a tenth of its time after it.
func TestFollowersGetTheTokenRightAfterTheHolder(t *testing.T) {
	srv := newSim(t)
	srv.SetTokenDelay(400 * time.Millisecond)
	mc := memcachedtest.Start(t)
	_, took := coldStart(t, replicas(4, nil, mc.Addr), func() Fetcher { return appCreds(srv) }, 10*time.Second)
	first, last := took[0], took[0]
	for _, d := range took {
		first, last = min(first, d), max(last, d)
	}
	// Waiters used to look at 25, 75, 175, 375 and 775 ms: 375 ms late here.
	if last-first > 150*time.Millisecond {
		t.Errorf("holder had its token after %v, the last follower after %v", first, last)
	}
	if got := srv.Fetches(testClientID); got != 1 {
		t.Errorf("fetches %d, want 1", got)
	}
}

// TestSlowStoreCostsTwoRoundTrips: memcached answering 40 ms late. A cold
// start reads the store and takes the lock in the token's place at once,
// fetches, and saves the token over the lock. The calls themselves are
// TestColdStartMakesTwoStoreCalls's to count; this bound is loose, for
// noisy machines.
func TestSlowStoreCostsTwoRoundTrips(t *testing.T) {
	srv := newSim(t)
	srv.SetTokenDelay(100 * time.Millisecond)
	mc := memcachedtest.Start(t)
	proxy := slowProxy(t, mc.Addr, 40*time.Millisecond)
	client := memcache.New(proxy.addr())
	client.Timeout = time.Second
	m := &Manager{Store: NewMemcacheStore(client)}
	start := time.Now()
	if _, err := m.Token(context.Background(), appCreds(srv)); err != nil {
		t.Fatal(err)
	}
	// A request and its answer each wait 40 ms at the proxy: 80 ms a round
	// trip. The fetch and two round trips take 260 ms; three took 340 ms,
	// six 580 ms.
	if d := time.Since(start); d > 450*time.Millisecond {
		t.Errorf("cold start through a slow memcached took %v, want about 260 ms", d)
	}
	settle(m)
}

// TestTimedOutStoreIsSkipped: a memcached that accepts connections and never
// answers costs the first refresh its timeout, not every refresh.
func TestTimedOutStoreIsSkipped(t *testing.T) {
	srv := newSim(t)
	mute := newTCPFault(t, func(c net.Conn) {
		buf := make([]byte, 4096)
		for {
			if _, err := c.Read(buf); err != nil {
				return
			}
		}
	})
	m := &Manager{Store: NewMemcacheStore(memcache.New(mute.addr()))}
	c := newTestClient(srv, m)
	start := time.Now()
	for i := range 20 {
		if err := apiCall(c, i); err != nil {
			t.Fatal(err)
		}
		srv.RevokeAll() // every request after the first needs a refresh
	}
	// Each refresh paid 3 timeouts of 100 ms before: 6 s.
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("20 refreshes with an unresponsive memcached took %v", d)
	}
	if m.Stats().StoreErrors == 0 {
		t.Error("no StoreErrors counted")
	}
	settle(m)
}

// TestOwnLockReleaseIsNotAnotherHolder: a refresh right after a fetch, while
// this process's release of the lock is still on its way to a slow memcached,
// waits for that release rather than for a holder that is itself.
func TestOwnLockReleaseIsNotAnotherHolder(t *testing.T) {
	srv := newSim(t)
	mc := memcachedtest.Start(t)
	proxy := slowProxy(t, mc.Addr, 40*time.Millisecond)
	client := memcache.New(proxy.addr())
	client.Timeout = time.Second
	m := &Manager{Store: NewMemcacheStore(client)}
	c := newTestClient(srv, m)
	if err := apiCall(c, 0); err != nil {
		t.Fatal(err)
	}
	srv.RevokeAll() // the next request's refresh starts while the release is under way
	if err := apiCall(c, 1); err != nil {
		t.Fatal(err)
	}
	if got := m.Stats().LockWaits; got != 0 {
		t.Errorf("LockWaits = %d: the process waited for its own lock as for another's", got)
	}
	settle(m)
}

// TestRefusedLockIsNotMaybeOurs: an add that never reached memcached (a
// refused connection) does not make the caller act as a holder that must
// release a lock, only an add whose answer timed out does.
func TestRefusedLockIsNotMaybeOurs(t *testing.T) {
	logger, logs := newLogger()
	store := NewMemcacheStore(memcache.New(memcachedtest.ClosedAddr(t)))
	store.Logger = logger
	unlock, ok, err := store.TryLock(context.Background(), "app:refused", lockTTL)
	if err == nil || ok || unlock != nil {
		t.Errorf("TryLock on a closed port = %v, %v; want a plain failure", ok, err)
	}
	if logs.String() != "" {
		t.Errorf("logged %q for a lock never taken", logs.String())
	}
}

// TestReleaseDuringAnExtension: the holder's fetch ends while an extension
// of its lock is under way, so the release reads the lock before the
// extension's cas and tries its own cas after it. The release looks again
// and removes the lock, rather than leave it to hold every process off
// until it expires.
func TestReleaseDuringAnExtension(t *testing.T) {
	mc := memcachedtest.Start(t)
	proxy := redistest.NewProxy(t, mc.Addr)
	client := memcache.New(proxy.Addr)
	client.Timeout = 2 * time.Second
	store := NewMemcacheStore(client)
	// In place of a stale token, so that LoadOrLock waits for every answer
	// it asked for, and the next one is the release's.
	stale := Token{Value: "tok-stale", Expiry: time.Now().Add(time.Hour)}
	if err := store.Save(context.Background(), "app:extended", stale); err != nil {
		t.Fatal(err)
	}
	_, lock, err := store.LoadOrLock(context.Background(), "app:extended", stale, lockTTL)
	if err != nil || lock == nil {
		t.Fatalf("LoadOrLock of a stale token = %v, %v; want the lock", lock, err)
	}
	readByRelease := proxy.HoldNextAnswer(300 * time.Millisecond)
	released := make(chan struct{})
	go func() {
		defer close(released)
		lock.Unlock()
	}()
	<-readByRelease
	// The extension, between the release's read and its cas.
	direct := patientMemcache(mc.Addr)
	item, err := direct.Get(memcacheKey("app:extended"))
	if err != nil {
		t.Fatal(err)
	}
	item.Expiration = 60
	if err := direct.CompareAndSwap(item); err != nil {
		t.Fatal(err)
	}
	<-released
	if item, err := direct.Get(memcacheKey("app:extended")); !errors.Is(err, memcache.ErrCacheMiss) {
		t.Errorf("after the release: %q, %v; want the lock gone", item.Value, err)
	}
}

// TestLoadOrLockOnAnEndedContextSendsNothing: a LoadOrLock whose context
// has ended before the call sends nothing, so it reports no lock, not one
// that may be its own: its caller need not act as a holder.
func TestLoadOrLockOnAnEndedContextSendsNothing(t *testing.T) {
	mc := memcachedtest.Start(t)
	store := NewMemcacheStore(patientMemcache(mc.Addr))
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, lock, err := store.LoadOrLock(ctx, "app:ended", Token{}, lockTTL); lock != nil || !errors.Is(err, context.Canceled) {
		t.Fatalf("LoadOrLock on a cancelled context = lock %v, %v; want no lock and context.Canceled", lock != nil, err)
	}
	if _, lock, err := store.LoadOrLock(context.Background(), "app:ended", Token{}, lockTTL); lock == nil || err != nil {
		t.Errorf("the next LoadOrLock = lock %v, %v; want the lock, nothing left behind", lock != nil, err)
	} else {
		lock.Unlock()
	}
}

// TestLoadOrLockPastItsDeadline: a LoadOrLock whose context ends (its
// deadline passes, or it is cancelled) before memcached answers reports the
// lock as maybe ours, and its unlock removes the lock once it has landed.
func TestLoadOrLockPastItsDeadline(t *testing.T) {
	for _, tc := range []struct {
		name  string
		ended func(slow *redistest.Proxy) (context.Context, context.CancelFunc)
	}{
		{"deadline", func(*redistest.Proxy) (context.Context, context.CancelFunc) {
			return context.WithTimeout(context.Background(), 50*time.Millisecond)
		}},
		{"cancelled", func(slow *redistest.Proxy) (context.Context, context.CancelFunc) {
			ctx, cancel := context.WithCancel(context.Background())
			arrived := slow.HoldNextAnswer(0)
			go func() {
				<-arrived // a command has run; its answer is on its way
				cancel()
			}()
			return ctx, cancel
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			mc := memcachedtest.Start(t)
			slow := redistest.NewProxy(t, mc.Addr)
			slow.SetDelay(300 * time.Millisecond)
			client := memcache.New(slow.Addr)
			client.Timeout = 2 * time.Second
			store := NewMemcacheStore(client)
			ctx, cancel := tc.ended(slow)
			defer cancel()
			_, lock, err := store.LoadOrLock(ctx, "app:deadline", Token{}, lockTTL)
			if err == nil || lock == nil {
				t.Fatalf("LoadOrLock past its context's end = %v, %v; want the error, and the lock as maybe ours", lock, err)
			}
			lock.Unlock() // after the add's answer: the lock is there, and ours
			direct := NewMemcacheStore(patientMemcache(mc.Addr))
			if _, next, err := direct.LoadOrLock(context.Background(), "app:deadline", Token{}, lockTTL); next == nil || err != nil {
				t.Errorf("after the unlock, LoadOrLock = %v, %v; want the lock", next, err)
			} else {
				next.Unlock()
			}
		})
	}
}
