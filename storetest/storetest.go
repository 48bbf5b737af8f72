// Package storetest is a conformance suite for implementations of
// [dingtoken.Store], [dingtoken.Locker] and [dingtoken.TokenLocker]. Every
// Store in this repository passes it; a Store for another backend (rueidis,
// SQL, etcd, ...) proves itself the same way:
//
//	func TestConformance(t *testing.T) {
//		storetest.Run(t, func(t *testing.T) dingtoken.Store {
//			return mystore.New(startBackend(t))
//		})
//	}
//
// The suite checks what the Manager relies on: a token comes back with its
// own expiry and is a miss once expired; Delete drops only the stale value,
// also when a fresh one is saved at the same moment; the lock, when the Store
// has one, has one holder at a time, is released only by its holder and
// expires when its holder dies; a [dingtoken.TokenLocker]'s lock in the
// token's place reads as a miss, replaces a stale token but never a fresh
// one, ends with the token's Save, is just as exclusive, and outlives its
// ttl when extended; and all of it holds under concurrent use and for any
// key. It takes a few seconds, most
// of them waiting for a 1 s token and 2 s locks to expire.
package storetest

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dingtoken/dingtoken"
)

// Run runs the suite against the Stores newStore returns, one per subtest.
// Each must hold no tokens and no locks: a fresh backend, or a shared one
// under a key prefix of its own. If the Store implements [dingtoken.Locker],
// or [dingtoken.TokenLocker], that lock is tested too; otherwise those
// subtests are skipped.
func Run(t *testing.T, newStore func(t *testing.T) dingtoken.Store) {
	t.Run("Miss", func(t *testing.T) { testMiss(t, newStore(t)) })
	t.Run("RoundTrip", func(t *testing.T) { testRoundTrip(t, newStore(t)) })
	t.Run("Overwrite", func(t *testing.T) { testOverwrite(t, newStore(t)) })
	t.Run("SavedExpired", func(t *testing.T) { testSavedExpired(t, newStore(t)) })
	t.Run("ExpiresWithToken", func(t *testing.T) { testExpiresWithToken(t, newStore(t)) })
	t.Run("Keys", func(t *testing.T) { testKeys(t, newStore(t)) })
	t.Run("Values", func(t *testing.T) { testValues(t, newStore(t)) })
	t.Run("DeleteStale", func(t *testing.T) { testDeleteStale(t, newStore(t)) })
	t.Run("DeleteRace", func(t *testing.T) { testDeleteRace(t, newStore(t)) })
	t.Run("Concurrent", func(t *testing.T) { testConcurrent(t, newStore(t)) })
	t.Run("Lock", func(t *testing.T) {
		lockers := func(t *testing.T) (dingtoken.Store, dingtoken.Locker) { return storeAs[dingtoken.Locker](t, newStore) }
		t.Run("Exclusive", func(t *testing.T) { _, l := lockers(t); testLockExclusive(t, l) })
		t.Run("Release", func(t *testing.T) { _, l := lockers(t); testLockRelease(t, l) })
		t.Run("Keys", func(t *testing.T) { _, l := lockers(t); testLockKeys(t, l) })
		t.Run("ApartFromTokens", func(t *testing.T) { s, l := lockers(t); testLockApartFromTokens(t, s, l) })
		t.Run("DeadHolder", func(t *testing.T) { _, l := lockers(t); testLockDeadHolder(t, l) })
		t.Run("MutualExclusion", func(t *testing.T) { _, l := lockers(t); testLockMutualExclusion(t, l) })
		t.Run("CancelledContext", func(t *testing.T) { _, l := lockers(t); testLockCancelledContext(t, l) })
	})
	t.Run("TokenLock", func(t *testing.T) { runTokenLock(t, newStore) })
}

// storeAs returns a new Store and the same Store as a T, an interface it
// may have; a Store without it skips the subtest.
func storeAs[T any](t *testing.T, newStore func(t *testing.T) dingtoken.Store) (dingtoken.Store, T) {
	s := newStore(t)
	as, ok := s.(T)
	if !ok {
		t.Skipf("%T is not a %v", s, reflect.TypeFor[T]())
	}
	return s, as
}

// Generous bounds: the suite runs on loaded CI machines, and some backends
// count time in whole seconds.
const (
	eventually = 15 * time.Second // for what only the passage of time makes true
	shortTTL   = time.Second      // the shortest token and lock lives the suite waits out
)

// oddKeys are fetcher keys a Store must keep apart and intact: long ones
// (differing only at the end), spaces, control bytes, non-ASCII text, and
// characters that mean something to some backend.
var oddKeys = []string{
	"app:dingplain",
	"corp:suite key with spaces:corp id",
	"app:ctl\x01\n\t\x7f",
	"app:钉钉应用",
	"app:{hash-tag}",
	"app:*?[glob]",
	"app:%s%d%%",
	"app:" + strings.Repeat("k", 246), // 250 bytes
	"app:" + strings.Repeat("k", 1000) + "a",
	"app:" + strings.Repeat("k", 1000) + "b",
}

// oddValues are token values a Store must return byte for byte: DingTalk's
// tokens (hex), sealed values (dts1.<base64url>) up to 4 KiB, and other
// printable text without spaces or ';'.
var oddValues = []string{
	"0123456789abcdef0123456789abcdef",
	"dts1." + strings.Repeat("AbC-_09z", 12),
	"dts1." + strings.Repeat("x-Y_", 1024),
	"eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2ln+/=~",
	"令牌-token",
}

func testMiss(t *testing.T, s dingtoken.Store) {
	if got, err := s.Load(context.Background(), "app:none"); !errors.Is(err, dingtoken.ErrNotFound) {
		t.Errorf("Load of a key never saved = %v, %v; want dingtoken.ErrNotFound", got, err)
	}
}

func testRoundTrip(t *testing.T, s dingtoken.Store) {
	want := dingtoken.Token{Value: "tok-round-trip", Expiry: time.Now().Add(time.Hour)}
	mustSave(t, s, "app:rt", want)
	got := mustLoad(t, s, "app:rt")
	checkToken(t, "Load after Save", got, want)
}

func testOverwrite(t *testing.T, s dingtoken.Store) {
	mustSave(t, s, "app:ow", dingtoken.Token{Value: "tok-first", Expiry: time.Now().Add(2 * time.Hour)})
	want := dingtoken.Token{Value: "tok-second", Expiry: time.Now().Add(time.Hour)}
	mustSave(t, s, "app:ow", want)
	checkToken(t, "Load after a second Save", mustLoad(t, s, "app:ow"), want)
}

// testSavedExpired: a token saved after its expiry is never loaded. The Save
// may store nothing and may return an error; either way Load misses.
func testSavedExpired(t *testing.T, s dingtoken.Store) {
	for _, exp := range []time.Time{time.Now().Add(-time.Second), time.Now().Add(-30 * 24 * time.Hour), {}} {
		if err := s.Save(context.Background(), "app:old", dingtoken.Token{Value: "tok-old", Expiry: exp}); err != nil {
			t.Logf("Save of a token that expired at %v: %v", exp, err)
		}
		if got, err := s.Load(context.Background(), "app:old"); !errors.Is(err, dingtoken.ErrNotFound) {
			t.Errorf("Load of a token saved after its expiry (%v) = %v, %v; want dingtoken.ErrNotFound", exp, got, err)
		}
	}
}

// testExpiresWithToken: a token loads until its expiry and is a miss from
// then on, without a Delete.
func testExpiresWithToken(t *testing.T, s dingtoken.Store) {
	ctx := context.Background()
	want := dingtoken.Token{Value: "tok-short", Expiry: time.Now().Add(shortTTL)}
	mustSave(t, s, "app:short", want)
	deadline := time.Now().Add(shortTTL + eventually)
	for {
		asked := time.Now()
		got, err := s.Load(ctx, "app:short")
		switch {
		case errors.Is(err, dingtoken.ErrNotFound):
			// A miss is right once the token has expired (to the
			// millisecond, as Stores keep expiries); before that, only if
			// the Load itself ran into the expiry.
			if time.Now().Before(want.Expiry.Truncate(time.Millisecond)) {
				t.Fatalf("Load missed %v before the token's expiry", want.Expiry.Sub(time.Now()))
			}
			return
		case err != nil:
			t.Fatalf("Load: %v", err)
		case !asked.Before(want.Expiry):
			t.Fatalf("Load %v after the token's expiry = %v; want dingtoken.ErrNotFound", asked.Sub(want.Expiry), got)
		}
		checkToken(t, "Load before expiry", got, want)
		if time.Now().After(deadline) {
			t.Fatalf("the token still loads %v after its expiry", time.Since(want.Expiry))
		}
		time.Sleep(20 * time.Millisecond) // polling the clock, not synchronising
	}
}

func testKeys(t *testing.T, s dingtoken.Store) {
	ctx := context.Background()
	exp := time.Now().Add(time.Hour)
	for i, k := range oddKeys {
		mustSave(t, s, k, dingtoken.Token{Value: fmt.Sprintf("tok-key-%d", i), Expiry: exp})
	}
	for i, k := range oddKeys {
		got, err := s.Load(ctx, k)
		if want := fmt.Sprintf("tok-key-%d", i); err != nil || got.Value != want {
			t.Errorf("key %q: Load = %v, %v; want %s", abbrev(k), got, err, want)
		}
	}
	// Deleting one key's token leaves the others.
	if err := s.Delete(ctx, oddKeys[len(oddKeys)-1], fmt.Sprintf("tok-key-%d", len(oddKeys)-1)); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	if _, err := s.Load(ctx, oddKeys[len(oddKeys)-1]); !errors.Is(err, dingtoken.ErrNotFound) {
		t.Errorf("Load after Delete: err = %v, want dingtoken.ErrNotFound", err)
	}
	if got, err := s.Load(ctx, oddKeys[len(oddKeys)-2]); err != nil || got.Value != fmt.Sprintf("tok-key-%d", len(oddKeys)-2) {
		t.Errorf("deleting one long key's token touched its neighbour: %v, %v", got, err)
	}
}

func testValues(t *testing.T, s dingtoken.Store) {
	for i, v := range oddValues {
		key := fmt.Sprintf("app:value-%d", i)
		want := dingtoken.Token{Value: v, Expiry: time.Now().Add(time.Hour)}
		mustSave(t, s, key, want)
		checkToken(t, fmt.Sprintf("value %q", abbrev(v)), mustLoad(t, s, key), want)
	}
}

func testDeleteStale(t *testing.T, s dingtoken.Store) {
	ctx := context.Background()
	fresh := dingtoken.Token{Value: "tok-fresh", Expiry: time.Now().Add(time.Hour)}
	mustSave(t, s, "app:d", dingtoken.Token{Value: "tok-stale", Expiry: time.Now().Add(time.Hour)})
	mustSave(t, s, "app:d", fresh)
	for _, stale := range []string{"tok-stale", "tok-fres", "tok-fresh-", "", "*"} {
		if err := s.Delete(ctx, "app:d", stale); err != nil {
			t.Fatalf("Delete(%q): %v", stale, err)
		}
		checkToken(t, fmt.Sprintf("after Delete(%q) of another value", stale), mustLoad(t, s, "app:d"), fresh)
	}
	if err := s.Delete(ctx, "app:d", "tok-fresh"); err != nil {
		t.Fatal(err)
	}
	if got, err := s.Load(ctx, "app:d"); !errors.Is(err, dingtoken.ErrNotFound) {
		t.Errorf("after Delete of the stored value: Load = %v, %v; want dingtoken.ErrNotFound", got, err)
	}
	if err := s.Delete(ctx, "app:never", "tok"); err != nil {
		t.Errorf("Delete of a key never saved: %v", err)
	}
}

// testDeleteRace: while several processes delete a stale token, another
// saves a fresh one; whatever the order, the fresh one survives. A Store
// that reads and then deletes without a compare-and-delete fails this.
func testDeleteRace(t *testing.T, s dingtoken.Store) {
	ctx := context.Background()
	const rounds, deleters = 40, 6
	for r := range rounds {
		key := fmt.Sprintf("app:race-%d", r)
		mustSave(t, s, key, dingtoken.Token{Value: "tok-stale", Expiry: time.Now().Add(time.Hour)})
		fresh := dingtoken.Token{Value: fmt.Sprintf("tok-fresh-%d", r), Expiry: time.Now().Add(time.Hour)}
		start := make(chan struct{})
		deleting := make(chan struct{}, deleters)
		errs := make(chan error, deleters+1)
		var wg sync.WaitGroup
		for range deleters {
			wg.Go(func() {
				<-start
				deleting <- struct{}{}
				errs <- s.Delete(ctx, key, "tok-stale")
			})
		}
		wg.Go(func() {
			<-start
			// Half the rounds save while a Delete is under way, so the Save
			// lands inside it rather than always before.
			if r%2 == 0 {
				<-deleting
			}
			errs <- s.Save(ctx, key, fresh)
		})
		close(start)
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Fatalf("round %d: %v", r, err)
			}
		}
		got, err := s.Load(ctx, key)
		if err != nil || got.Value != fresh.Value {
			t.Fatalf("round %d: after deletes of the stale token raced a Save of a fresh one, Load = %v, %v; want the fresh token", r, got, err)
		}
	}
}

// testConcurrent: goroutines save, load and delete a few keys at once. Every
// load returns a value that was saved under that key, with that value's own
// expiry: never a mix of two saves.
func testConcurrent(t *testing.T, s dingtoken.Store) {
	ctx := context.Background()
	const workers, ops, keys = 8, 40, 3
	base := time.Now().Add(time.Hour).Truncate(time.Millisecond)
	expiryOf := func(w, i int) time.Time { return base.Add(time.Duration(w*ops+i) * time.Millisecond) }
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for w := range workers {
		wg.Go(func() {
			for i := range ops {
				key := fmt.Sprintf("app:busy-%d", (w+i)%keys)
				var err error
				switch i % 3 {
				case 0:
					err = s.Save(ctx, key, dingtoken.Token{Value: fmt.Sprintf("tok-%d-%d-%s", w, i, key[9:]), Expiry: expiryOf(w, i)})
				case 1:
					var got dingtoken.Token
					got, err = s.Load(ctx, key)
					if errors.Is(err, dingtoken.ErrNotFound) {
						err = nil
						break
					}
					if err != nil {
						break
					}
					var gw, gi int
					var gk string
					if _, serr := fmt.Sscanf(got.Value, "tok-%d-%d-%s", &gw, &gi, &gk); serr != nil || gk != key[9:] || !sameExpiry(got.Expiry, expiryOf(gw, gi)) {
						err = fmt.Errorf("Load(%q) = %q, expiry %v: not a token saved under that key with its own expiry", key, got.Value, got.Expiry)
					}
				case 2:
					err = s.Delete(ctx, key, fmt.Sprintf("tok-%d-%d-%s", w, i-2, key[9:]))
				}
				if err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

func mustSave(t *testing.T, s dingtoken.Store, key string, tok dingtoken.Token) {
	t.Helper()
	if err := s.Save(context.Background(), key, tok); err != nil {
		t.Fatalf("Save(%q): %v", abbrev(key), err)
	}
}

func mustLoad(t *testing.T, s dingtoken.Store, key string) dingtoken.Token {
	t.Helper()
	got, err := s.Load(context.Background(), key)
	if err != nil {
		t.Fatalf("Load(%q): %v", abbrev(key), err)
	}
	return got
}

// checkToken compares a loaded token with the saved one: the same value, and
// the same expiry to the millisecond (never later).
func checkToken(t *testing.T, what string, got, want dingtoken.Token) {
	t.Helper()
	if got.Value != want.Value {
		t.Errorf("%s: got value %q, want %q", what, abbrev(got.Value), abbrev(want.Value))
	}
	if !sameExpiry(got.Expiry, want.Expiry) {
		t.Errorf("%s: got expiry %v, want %v (to the millisecond, never later)", what, got.Expiry, want.Expiry)
	}
}

func sameExpiry(got, want time.Time) bool {
	return !got.After(want) && want.Sub(got) < time.Millisecond
}

// abbrev shortens long keys and values in messages.
func abbrev(s string) string {
	if len(s) <= 40 {
		return s
	}
	return fmt.Sprintf("%s...(%d bytes)", s[:32], len(s))
}
