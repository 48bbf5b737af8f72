package storetest

import (
	"context"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/dingtoken/dingtoken"
)

// longTTL is a lock life no subtest waits out: a lock taken with it that is
// free again was released, not expired.
const longTTL = time.Minute

// testLockExclusive: of several processes trying at once, one gets the lock.
func testLockExclusive(t *testing.T, l dingtoken.Locker) {
	const n = 8
	var wg sync.WaitGroup
	var won atomic.Int32
	unlocks := make(chan func(), n)
	start := make(chan struct{})
	for range n {
		wg.Go(func() {
			<-start
			unlock, ok, err := l.TryLock(context.Background(), "app:excl", longTTL)
			if err != nil {
				t.Errorf("TryLock: %v", err)
			}
			if ok {
				won.Add(1)
				unlocks <- unlock
			}
		})
	}
	close(start)
	wg.Wait()
	close(unlocks)
	if got := won.Load(); got != 1 {
		t.Errorf("%d of %d concurrent TryLocks got the lock, want 1", got, n)
	}
	for unlock := range unlocks {
		unlock()
	}
}

// testLockRelease: unlock frees the lock; a second unlock by the same holder
// does not free the lock someone else took meanwhile.
func testLockRelease(t *testing.T, l dingtoken.Locker) {
	first := mustLock(t, l, "app:rel")
	mustNotLock(t, l, "app:rel", "while held")
	first()
	second := mustLock(t, l, "app:rel")
	first() // again: a no-op, the lock is second's now
	mustNotLock(t, l, "app:rel", "after the first holder unlocked twice")
	second()
	mustLock(t, l, "app:rel")()
}

// testLockKeys: each key has its own lock, whatever the key looks like.
func testLockKeys(t *testing.T, l dingtoken.Locker) {
	var unlocks []func()
	for _, k := range oddKeys {
		unlocks = append(unlocks, mustLock(t, l, k))
	}
	for _, k := range oddKeys {
		mustNotLock(t, l, k, "while held")
	}
	for _, unlock := range unlocks {
		unlock()
	}
	for _, k := range oddKeys {
		mustLock(t, l, k)()
	}
}

// testLockApartFromTokens: a key's lock and its token do not disturb each other.
func testLockApartFromTokens(t *testing.T, s dingtoken.Store, l dingtoken.Locker) {
	tok := dingtoken.Token{Value: "tok-locked", Expiry: time.Now().Add(time.Hour)}
	mustSave(t, s, "app:both", tok)
	unlock := mustLock(t, l, "app:both")
	checkToken(t, "the token while its key is locked", mustLoad(t, s, "app:both"), tok)
	tok2 := dingtoken.Token{Value: "tok-locked-2", Expiry: time.Now().Add(time.Hour)}
	mustSave(t, s, "app:both", tok2)
	mustNotLock(t, l, "app:both", "after a Save of the key's token")
	unlock()
	checkToken(t, "the token after unlock", mustLoad(t, s, "app:both"), tok2)
}

// testLockDeadHolder: a holder that never unlocks loses the lock after its
// ttl; when it wakes up and unlocks late, the new holder keeps the lock.
// The lock is taken for 2 s and must hold for the first second: a backend
// whose clock ticks in whole seconds (memcached) may end it up to a second
// early, which costs the Manager nothing (it waits 5 s for a 15 s lock).
func testLockDeadHolder(t *testing.T, l dingtoken.Locker) {
	const ttl = 2 * shortTTL
	taken := time.Now()
	dead, ok, err := l.TryLock(context.Background(), "app:dead", ttl)
	if err != nil || !ok {
		t.Fatalf("TryLock of a free lock = %v, %v; want it taken", ok, err)
	}
	if _, ok, err := l.TryLock(context.Background(), "app:dead", longTTL); err != nil {
		t.Fatalf("TryLock: %v", err)
	} else if ok && time.Since(taken) < ttl-time.Second {
		t.Fatalf("TryLock %v after another took the lock for %v got it too", time.Since(taken), ttl)
	}
	next := awaitExpiry(t, "TryLock", ttl, taken, func() (func(), bool, error) {
		return l.TryLock(context.Background(), "app:dead", longTTL)
	})
	dead() // the dead holder's late unlock
	mustNotLock(t, l, "app:dead", "after an expired holder's late unlock")
	next()
}

// awaitExpiry tries take until it gets the lock a holder that died took at
// taken for ttl, and returns its unlock. Getting it more than a second
// before ttl is over fails the test, and so does not getting it at all.
func awaitExpiry(t *testing.T, what string, ttl time.Duration, taken time.Time, take func() (unlock func(), ok bool, err error)) (unlock func()) {
	t.Helper()
	deadline := time.Now().Add(ttl + eventually)
	for {
		if time.Now().After(deadline) {
			t.Fatalf("a lock taken for %v was still held after %v", ttl, time.Since(taken))
		}
		time.Sleep(20 * time.Millisecond) // polling the clock, not synchronising
		unlock, ok, err := take()
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		if ok {
			if time.Since(taken) < ttl-time.Second {
				t.Fatalf("%s %v after another took the lock for %v got it too", what, time.Since(taken), ttl)
			}
			return unlock
		}
	}
}

// testLockMutualExclusion: workers take and release the lock in a loop;
// never are two of them inside at once.
func testLockMutualExclusion(t *testing.T, l dingtoken.Locker) {
	const workers, tries = 6, 30
	var inside, most, acquired atomic.Int32
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for range tries {
				unlock, ok, err := l.TryLock(context.Background(), "app:mutex", longTTL)
				if err != nil {
					t.Errorf("TryLock: %v", err)
					return
				}
				if !ok {
					runtime.Gosched()
					continue
				}
				acquired.Add(1)
				n := inside.Add(1)
				for m := most.Load(); n > m && !most.CompareAndSwap(m, n); m = most.Load() {
				}
				runtime.Gosched()
				inside.Add(-1)
				unlock()
			}
		})
	}
	wg.Wait()
	if got := most.Load(); got != 1 {
		t.Errorf("%d holders inside the lock at once, want 1", got)
	}
	if acquired.Load() < 2 {
		t.Errorf("the lock was taken %d times in %d tries; unlock does not free it", acquired.Load(), workers*tries)
	}
}

// testLockCancelledContext: TryLock with a cancelled context either takes the
// lock or leaves none behind, so that nobody waits out a lock nobody holds.
func testLockCancelledContext(t *testing.T, l dingtoken.Locker) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	unlock, ok, err := l.TryLock(ctx, "app:cancel", longTTL)
	if ok {
		unlock()
		return
	}
	t.Logf("TryLock with a cancelled context: ok=false, err=%v", err)
	deadline := time.Now().Add(eventually)
	for {
		unlock, ok, err := l.TryLock(context.Background(), "app:cancel", longTTL)
		if err != nil {
			t.Fatalf("TryLock: %v", err)
		}
		if ok {
			unlock()
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("a TryLock that failed on a cancelled context left the lock held for %v", eventually)
		}
		time.Sleep(20 * time.Millisecond) // polling the clock, not synchronising
	}
}

func mustLock(t *testing.T, l dingtoken.Locker, key string) (unlock func()) {
	t.Helper()
	unlock, ok, err := l.TryLock(context.Background(), key, longTTL)
	if err != nil || !ok {
		t.Fatalf("TryLock(%q) of a free lock = %v, %v; want it taken", abbrev(key), ok, err)
	}
	return unlock
}

func mustNotLock(t *testing.T, l dingtoken.Locker, key, when string) {
	t.Helper()
	unlock, ok, err := l.TryLock(context.Background(), key, longTTL)
	if err != nil {
		t.Fatalf("TryLock(%q) %s: %v", abbrev(key), when, err)
	}
	if ok {
		unlock()
		t.Fatalf("TryLock(%q) %s took a lock someone else holds", abbrev(key), when)
	}
}
