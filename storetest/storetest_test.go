package storetest_test

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dingtoken/dingtoken"
	"github.com/dingtoken/dingtoken/storetest"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestMemoryStore(t *testing.T) {
	storetest.Run(t, func(t *testing.T) dingtoken.Store { return dingtoken.NewMemoryStore() })
}

func TestFaithfulFake(t *testing.T) {
	storetest.Run(t, func(t *testing.T) dingtoken.Store { return &fake{} })
}

// brokenEnv names the flaw of the fake a child process runs the suite on.
const brokenEnv = "STORETEST_BROKEN"

// TestSuiteCatchesBrokenStores runs the suite, in a child process each,
// against fakes with one flaw each, and expects the subtest that looks for
// that flaw to fail.
func TestSuiteCatchesBrokenStores(t *testing.T) {
	if os.Getenv(brokenEnv) != "" {
		t.Skip("running as a child")
	}
	for _, tc := range []struct {
		flaw, subtest string
	}{
		{"loadIgnoresExpiry", "SavedExpired"},
		{"loadIgnoresExpiry", "ExpiresWithToken"},
		{"expiryInSeconds", "RoundTrip"},
		{"keysCut", "Keys"},
		{"deleteIgnoresStale", "DeleteStale"},
		{"deleteReadThenDelete", "DeleteRace"},
		{"lockCheckThenSet", "Lock/Exclusive"},
		{"unlockAnyHolder", "Lock/Release"},
		{"unlockAnyHolder", "Lock/DeadHolder"},
		{"lockIsToken", "Lock/ApartFromTokens"},
		{"lockOverFresh", "TokenLock/FindsToken"},
		{"staleByValue", "TokenLock/ReissuedToken"},
		{"saveKeepsLock", "TokenLock/SaveEndsLock"},
		{"deleteTakesLock", "TokenLock/DeleteLeavesLock"},
		{"inPlaceCheckThenSet", "TokenLock/Exclusive"},
		{"unlockAnyHolder", "TokenLock/DeadHolder"},
		{"extendIgnored", "TokenLock/Extend"},
		{"extendOverToken", "TokenLock/Extend"},
	} {
		t.Run(tc.flaw+"/"+tc.subtest, func(t *testing.T) {
			t.Parallel()
			pattern := "^TestBrokenChild$/^" + strings.ReplaceAll(tc.subtest, "/", "$/^") + "$"
			cmd := exec.Command(os.Args[0], "-test.run="+pattern, "-test.count=1", "-test.v")
			cmd.Env = append(os.Environ(), brokenEnv+"="+tc.flaw)
			out, err := cmd.CombinedOutput()
			if err == nil || !strings.Contains(string(out), "--- FAIL: TestBrokenChild/"+tc.subtest+" ") {
				t.Errorf("the suite did not catch %s in %s (err %v):\n%s", tc.flaw, tc.subtest, err, out)
			}
		})
	}
}

// TestBrokenChild is the body of each child of TestSuiteCatchesBrokenStores.
func TestBrokenChild(t *testing.T) {
	flaw := os.Getenv(brokenEnv)
	if flaw == "" {
		t.Skip("only run as a child of TestSuiteCatchesBrokenStores")
	}
	storetest.Run(t, func(t *testing.T) dingtoken.Store { return &fake{flaw: flaw} })
}

// fake is a Store, Locker and TokenLocker in memory with one optional
// flaw.
type fake struct {
	flaw    string
	mu      sync.Mutex
	tokens  map[string]dingtoken.Token
	locks   map[string]lock
	inPlace map[string]lock // refresh locks in their tokens' place
}

type lock struct {
	owner *int
	until time.Time
}

func (f *fake) key(k string) string {
	if f.flaw == "keysCut" && len(k) > 250 {
		return k[:250]
	}
	return k
}

func (f *fake) Load(ctx context.Context, key string) (dingtoken.Token, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	t, ok := f.tokens[f.key(key)]
	if time.Now().Before(f.inPlace[f.key(key)].until) {
		ok = false
	}
	if !ok || (f.flaw != "loadIgnoresExpiry" && !time.Now().Before(t.Expiry)) {
		return dingtoken.Token{}, dingtoken.ErrNotFound
	}
	return t, nil
}

func (f *fake) Save(ctx context.Context, key string, t dingtoken.Token) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.tokens == nil {
		f.tokens = map[string]dingtoken.Token{}
	}
	if f.flaw == "expiryInSeconds" {
		t.Expiry = t.Expiry.Truncate(time.Second)
	}
	f.tokens[f.key(key)] = t
	if f.flaw != "saveKeepsLock" {
		delete(f.inPlace, f.key(key))
	}
	if f.flaw == "lockIsToken" {
		delete(f.locks, f.key(key))
	}
	return nil
}

func (f *fake) Delete(ctx context.Context, key string, stale string) error {
	if f.flaw == "deleteReadThenDelete" {
		t, err := f.Load(ctx, key)
		if err != nil || t.Value != stale {
			return nil
		}
		time.Sleep(time.Millisecond) // the window a network round trip opens
		f.mu.Lock()
		defer f.mu.Unlock()
		delete(f.tokens, f.key(key))
		return nil
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if t, ok := f.tokens[f.key(key)]; ok && (t.Value == stale || f.flaw == "deleteIgnoresStale") {
		delete(f.tokens, f.key(key))
	}
	if f.flaw == "deleteTakesLock" {
		delete(f.inPlace, f.key(key))
	}
	return nil
}

func (f *fake) LoadOrLock(ctx context.Context, key string, stale dingtoken.Token, ttl time.Duration) (dingtoken.Token, *dingtoken.HeldLock, error) {
	k := f.key(key)
	f.mu.Lock()
	now := time.Now()
	if now.Before(f.inPlace[k].until) {
		f.mu.Unlock()
		return dingtoken.Token{}, nil, nil
	}
	if t, ok := f.tokens[k]; ok && now.Before(t.Expiry) && !f.isStale(t, stale) {
		f.mu.Unlock()
		return t, nil, nil
	}
	f.checkThenSet("inPlaceCheckThenSet")
	defer f.mu.Unlock()
	delete(f.tokens, k)
	owner, unlock := f.hold(&f.inPlace, k, ttl)
	return dingtoken.Token{}, &dingtoken.HeldLock{
		Unlock: unlock,
		Extend: func(ctx context.Context, ttl time.Duration) error {
			f.mu.Lock()
			defer f.mu.Unlock()
			if f.flaw == "extendIgnored" {
				return nil
			}
			if f.inPlace[k].owner != owner && f.flaw != "extendOverToken" {
				return errors.New("the lock is gone")
			}
			f.inPlace[k] = lock{owner: owner, until: time.Now().Add(ttl)}
			return nil
		},
	}, nil
}

func (f *fake) TryLock(ctx context.Context, key string, ttl time.Duration) (func(), bool, error) {
	k := f.key(key)
	f.mu.Lock()
	held := time.Now().Before(f.locks[k].until)
	if held {
		f.mu.Unlock()
		return nil, false, nil
	}
	f.checkThenSet("lockCheckThenSet")
	defer f.mu.Unlock()
	_, unlock := f.hold(&f.locks, k, ttl)
	return unlock, true, nil
}

// isStale reports whether the stored token t is stale: the same value and
// expiry, to the millisecond; with flaw lockOverFresh, every token is, and
// with staleByValue, the same value with any expiry.
func (f *fake) isStale(t, stale dingtoken.Token) bool {
	switch f.flaw {
	case "lockOverFresh":
		return true
	case "staleByValue":
		return t.Value == stale.Value
	}
	return t.Value == stale.Value && t.Expiry.UnixMilli() == stale.Expiry.UnixMilli()
}

// checkThenSet, with flaw, lets go of f.mu between a lock's check and its
// set, as a backend without an atomic add would. f.mu is held.
func (f *fake) checkThenSet(flaw string) {
	if f.flaw != flaw {
		return
	}
	f.mu.Unlock()
	runtime.Gosched()
	time.Sleep(time.Millisecond)
	f.mu.Lock()
}

// hold puts a new holder's lock on k in *locks, and returns the holder and
// its unlock, which removes the lock only if it is still the holder's
// (anyone's, with unlockAnyHolder). f.mu is held.
func (f *fake) hold(locks *map[string]lock, k string, ttl time.Duration) (owner *int, unlock func()) {
	if *locks == nil {
		*locks = map[string]lock{}
	}
	owner = new(int)
	(*locks)[k] = lock{owner: owner, until: time.Now().Add(ttl)}
	return owner, func() {
		f.mu.Lock()
		defer f.mu.Unlock()
		if (*locks)[k].owner == owner || f.flaw == "unlockAnyHolder" {
			delete(*locks, k)
		}
	}
}
