package storetest

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/dingtoken/dingtoken"
)

// runTokenLock runs the subtests of a TokenLocker, whose refresh lock sits
// in the token's place; they are skipped for a Store that is not one.
func runTokenLock(t *testing.T, newStore func(t *testing.T) dingtoken.Store) {
	tokenLocker := func(t *testing.T) (dingtoken.Store, dingtoken.TokenLocker) {
		return storeAs[dingtoken.TokenLocker](t, newStore)
	}
	t.Run("WhereEmpty", func(t *testing.T) { s, tl := tokenLocker(t); testTokenLockWhereEmpty(t, s, tl) })
	t.Run("FindsToken", func(t *testing.T) { s, tl := tokenLocker(t); testTokenLockFindsToken(t, s, tl) })
	t.Run("ReissuedToken", func(t *testing.T) { s, tl := tokenLocker(t); testTokenLockReissuedToken(t, s, tl) })
	t.Run("SaveEndsLock", func(t *testing.T) { s, tl := tokenLocker(t); testTokenLockSaveEndsLock(t, s, tl) })
	t.Run("DeleteLeavesLock", func(t *testing.T) { s, tl := tokenLocker(t); testTokenLockDeleteLeavesLock(t, s, tl) })
	t.Run("Exclusive", func(t *testing.T) { _, tl := tokenLocker(t); testTokenLockExclusive(t, tl) })
	t.Run("Keys", func(t *testing.T) { _, tl := tokenLocker(t); testTokenLockKeys(t, tl) })
	t.Run("DeadHolder", func(t *testing.T) { _, tl := tokenLocker(t); testTokenLockDeadHolder(t, tl) })
	t.Run("Extend", func(t *testing.T) { s, tl := tokenLocker(t); testTokenLockExtend(t, s, tl) })
}

// testTokenLockWhereEmpty: an empty key is locked; the lock reads as a miss,
// holds off a second caller, and is gone after unlock.
func testTokenLockWhereEmpty(t *testing.T, s dingtoken.Store, tl dingtoken.TokenLocker) {
	unlock := mustLockInPlace(t, tl, "app:empty", dingtoken.Token{})
	if got, err := s.Load(context.Background(), "app:empty"); !errors.Is(err, dingtoken.ErrNotFound) {
		t.Errorf("Load of a locked key = %v, %v; want ErrNotFound", got, err)
	}
	mustFindHolder(t, tl, "app:empty", "while locked")
	unlock()
	mustLockInPlace(t, tl, "app:empty", dingtoken.Token{})()
}

// testTokenLockFindsToken: a stored token comes back and is not locked over,
// unless it is named stale; a fresh token named nothing survives.
func testTokenLockFindsToken(t *testing.T, s dingtoken.Store, tl dingtoken.TokenLocker) {
	tok := dingtoken.Token{Value: "tok-found", Expiry: time.Now().Add(time.Hour)}
	mustSave(t, s, "app:found", tok)
	other := dingtoken.Token{Value: "tok-other", Expiry: tok.Expiry}
	mustFindToken(t, tl, "app:found", other, tok, "naming another token stale")
	mustLockInPlace(t, tl, "app:found", tok)
	if got, err := s.Load(context.Background(), "app:found"); !errors.Is(err, dingtoken.ErrNotFound) {
		t.Errorf("Load after the stale token's place was locked = %v, %v; want ErrNotFound", got, err)
	}
}

// testTokenLockReissuedToken: the stale token's value saved again with a
// later expiry, as DingTalk hands a token out again with its life
// extended, is a fresh token: it comes back, and is not locked over.
func testTokenLockReissuedToken(t *testing.T, s dingtoken.Store, tl dingtoken.TokenLocker) {
	stale := dingtoken.Token{Value: "tok-reissued", Expiry: time.Now().Add(time.Hour)}
	reissued := dingtoken.Token{Value: stale.Value, Expiry: stale.Expiry.Add(time.Minute)}
	mustSave(t, s, "app:reissued", reissued)
	mustFindToken(t, tl, "app:reissued", stale, reissued, "naming the token with its earlier expiry stale")
	mustLockInPlace(t, tl, "app:reissued", reissued)()
}

// testTokenLockSaveEndsLock: the holder's Save takes the lock's place, and
// its unlock after that leaves the token alone.
func testTokenLockSaveEndsLock(t *testing.T, s dingtoken.Store, tl dingtoken.TokenLocker) {
	unlock := mustLockInPlace(t, tl, "app:saved", dingtoken.Token{})
	tok := dingtoken.Token{Value: "tok-saved", Expiry: time.Now().Add(time.Hour)}
	mustSave(t, s, "app:saved", tok)
	checkToken(t, "Load after the holder's Save", mustLoad(t, s, "app:saved"), tok)
	unlock()
	checkToken(t, "Load after the holder's unlock that followed its Save", mustLoad(t, s, "app:saved"), tok)
}

// testTokenLockDeleteLeavesLock: a Delete of a stale token does not remove
// a lock in its place.
func testTokenLockDeleteLeavesLock(t *testing.T, s dingtoken.Store, tl dingtoken.TokenLocker) {
	stale := dingtoken.Token{Value: "tok-stale", Expiry: time.Now().Add(time.Hour)}
	mustSave(t, s, "app:deleted", stale)
	defer mustLockInPlace(t, tl, "app:deleted", stale)()
	if err := s.Delete(context.Background(), "app:deleted", "tok-stale"); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	mustFindHolder(t, tl, "app:deleted", "after a Delete of the token the lock replaced")
}

// testTokenLockExclusive: of several processes trying at once, on an empty
// key or on a stale token, one gets the lock.
func testTokenLockExclusive(t *testing.T, tl dingtoken.TokenLocker) {
	s := tl.(dingtoken.Store)
	stale := dingtoken.Token{Value: "tok-stale", Expiry: time.Now().Add(time.Hour)}
	mustSave(t, s, "app:excl-stale", stale)
	for _, key := range []string{"app:excl-empty", "app:excl-stale"} {
		const n = 16
		var won atomic.Int32
		var wg sync.WaitGroup
		for range n {
			wg.Go(func() {
				_, lock, err := tl.LoadOrLock(context.Background(), key, stale, longTTL)
				if err != nil {
					t.Errorf("LoadOrLock(%q): %v", key, err)
				}
				if lock != nil {
					won.Add(1)
				}
			})
		}
		wg.Wait()
		if got := won.Load(); got != 1 {
			t.Errorf("%s: %d of %d concurrent LoadOrLocks got the lock, want 1", key, got, n)
		}
	}
}

// testTokenLockKeys: each key has its own lock, whatever the key looks like.
func testTokenLockKeys(t *testing.T, tl dingtoken.TokenLocker) {
	for _, k := range oddKeys {
		mustLockInPlace(t, tl, k, dingtoken.Token{})
	}
	for _, k := range oddKeys {
		mustFindHolder(t, tl, k, "while locked")
	}
}

// testTokenLockDeadHolder: a holder that never saves nor unlocks loses the
// lock after its ttl (a second early at most, for a backend whose clock
// ticks in whole seconds); its late unlock leaves the next holder's lock.
func testTokenLockDeadHolder(t *testing.T, tl dingtoken.TokenLocker) {
	const ttl = 2 * shortTTL
	taken := time.Now()
	_, dead, err := tl.LoadOrLock(context.Background(), "app:dead-holder", dingtoken.Token{}, ttl)
	if err != nil || dead == nil {
		t.Fatalf("LoadOrLock of an empty key = lock %v, %v; want the lock", dead != nil, err)
	}
	next := awaitExpiry(t, "LoadOrLock", ttl, taken, func() (func(), bool, error) {
		_, lock, err := tl.LoadOrLock(context.Background(), "app:dead-holder", dingtoken.Token{}, longTTL)
		if lock == nil {
			return nil, false, err
		}
		return lock.Unlock, true, err
	})
	dead.Unlock()
	mustFindHolder(t, tl, "app:dead-holder", "after an expired holder's late unlock")
	next()
}

func mustLockInPlace(t *testing.T, tl dingtoken.TokenLocker, key string, stale dingtoken.Token) (unlock func()) {
	t.Helper()
	return mustHoldInPlace(t, tl, key, stale, longTTL).Unlock
}

func mustHoldInPlace(t *testing.T, tl dingtoken.TokenLocker, key string, stale dingtoken.Token, ttl time.Duration) *dingtoken.HeldLock {
	t.Helper()
	got, lock, err := tl.LoadOrLock(context.Background(), key, stale, ttl)
	if err != nil || lock == nil {
		t.Fatalf("LoadOrLock(%q, stale %q) = %v, lock %v, %v; want the lock", abbrev(key), stale.Value, got, lock != nil, err)
	}
	return lock
}

// mustFindToken: LoadOrLock, naming stale, finds the stored token want and
// takes no lock.
func mustFindToken(t *testing.T, tl dingtoken.TokenLocker, key string, stale, want dingtoken.Token, naming string) {
	t.Helper()
	got, lock, err := tl.LoadOrLock(context.Background(), key, stale, longTTL)
	if err != nil || lock != nil {
		if lock != nil {
			lock.Unlock()
		}
		t.Fatalf("LoadOrLock(%q) %s = lock %v, %v; want the stored token", abbrev(key), naming, lock != nil, err)
	}
	checkToken(t, "LoadOrLock "+naming, got, want)
}

// mustFindHolder: LoadOrLock finds another holder's lock: no token, no lock.
func mustFindHolder(t *testing.T, tl dingtoken.TokenLocker, key, when string) {
	t.Helper()
	got, lock, err := tl.LoadOrLock(context.Background(), key, dingtoken.Token{}, longTTL)
	if lock != nil {
		lock.Unlock()
	}
	if err != nil || lock != nil || got.Value != "" {
		t.Fatalf("LoadOrLock(%q) %s = %v, lock %v, %v; want another holder's lock found", abbrev(key), when, got, lock != nil, err)
	}
}

// testTokenLockExtend: a lock extended before its ttl outlives it; once the
// token's Save took its place, Extend reports the lock gone and leaves the
// token as it was. A Store whose locks cannot be extended (a nil Extend)
// skips this.
func testTokenLockExtend(t *testing.T, s dingtoken.Store, tl dingtoken.TokenLocker) {
	const ttl = 2 * shortTTL
	lock := mustHoldInPlace(t, tl, "app:extend", dingtoken.Token{}, ttl)
	if lock.Extend == nil {
		t.Skip("the lock cannot be extended")
	}
	taken := time.Now()
	if err := lock.Extend(context.Background(), longTTL); err != nil {
		t.Fatalf("Extend of a held lock: %v", err)
	}
	time.Sleep(time.Until(taken.Add(ttl + time.Second))) // waiting out the first ttl, not synchronising
	mustFindHolder(t, tl, "app:extend", "after the lock's first ttl, extended")
	tok := dingtoken.Token{Value: "tok-extend", Expiry: time.Now().Add(time.Hour)}
	mustSave(t, s, "app:extend", tok)
	if err := lock.Extend(context.Background(), longTTL); err == nil {
		t.Error("Extend after the token's Save took the lock's place: no error, want the lock reported gone")
	}
	checkToken(t, "the token after an Extend of the lock it replaced", mustLoad(t, s, "app:extend"), tok)
	lock.Unlock()
}
