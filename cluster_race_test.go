package dingtoken

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/dingtoken/dingtoken/internal/memcachedtest"
)

// Races between one process's refresh and another's that has just
// finished: what the lock alone cannot tell.

// TestTokenIsInTheStoreWhenHandedOut: the lock holder's callers get the
// token only once the Store has it, so that processes waiting for it find
// it as soon as the holder has it, and a process that exits at once still
// shares it.
func TestTokenIsInTheStoreWhenHandedOut(t *testing.T) {
	srv := newSim(t)
	mc := memcachedtest.Start(t)
	m := &Manager{Store: NewMemcacheStore(patientMemcache(mc.Addr))}
	tok, err := m.Token(context.Background(), appCreds(srv))
	if err != nil {
		t.Fatal(err)
	}
	other := &Manager{Store: NewMemcacheStore(patientMemcache(mc.Addr))}
	stored, err := other.Store.Load(context.Background(), appCreds(srv).Key())
	if err != nil {
		t.Fatalf("the Store has no token when the first caller has it: %v", err)
	}
	if got, err := other.codecFor(other.state(appCreds(srv)), appCreds(srv)).decode(stored); err != nil || got.Value != tok.Value {
		t.Errorf("the Store holds %v, %v; want the token handed out", got, err)
	}
	settle(m)
}

// TestHolderThatLetGoBetweenOurLoadAndLock: this process's load misses just
// before another process saves its token, and its lock is taken just after
// that process lets go. It must find the saved token, not fetch again. The
// race is a Locker's, whose lock is apart from the token; a TokenLocker's
// lock in the token's place has none.
func TestHolderThatLetGoBetweenOurLoadAndLock(t *testing.T) {
	mc := memcachedtest.Start(t)
	var fetches atomic.Int32
	fetching, finish := make(chan struct{}), make(chan struct{})
	f := sealed(FetcherFunc("app:raced", func(context.Context) (Token, error) {
		if fetches.Add(1) == 1 {
			close(fetching)
			<-finish
		}
		return Token{Value: "tok-raced", Expiry: time.Now().Add(time.Hour)}, nil
	}))
	holder := &Manager{Store: lockerOnly(NewMemcacheStore(patientMemcache(mc.Addr)))}
	held := make(chan error, 1)
	go func() {
		_, err := holder.Token(context.Background(), f)
		held <- err
	}()
	<-fetching

	loaded, holderLetGo := make(chan struct{}), make(chan struct{})
	late := &steppedStore{
		lockApart:  lockerOnly(NewMemcacheStore(patientMemcache(mc.Addr))),
		afterLoad:  func() { close(loaded) },
		beforeLock: func() { <-holderLetGo },
	}
	go func() {
		<-loaded // the holder's token is not in the Store yet
		close(finish)
		if err := <-held; err != nil {
			t.Error(err)
		}
		settle(holder) // saved, and the lock released
		close(holderLetGo)
	}()
	tok, err := (&Manager{Store: late}).Token(context.Background(), f)
	if err != nil || tok.Value != "tok-raced" {
		t.Fatalf("got %v, %v", tok, err)
	}
	if n := fetches.Load(); n != 1 {
		t.Errorf("%d fetches, want 1: the holder's saved token was missed", n)
	}
}

// lockApart is a Store and Locker that is no TokenLocker, as a Store of
// another package may be: its refresh lock is apart from the token.
type lockApart struct {
	Store
	Locker
}

func lockerOnly(s *MemcacheStore) lockApart { return lockApart{s, s} }

// steppedStore is a lockApart whose first Load and first TryLock call
// hooks, to order them against another process's work.
type steppedStore struct {
	lockApart
	afterLoad, beforeLock func()
	loads, locks          atomic.Int32
}

func (s *steppedStore) Load(ctx context.Context, key string) (Token, error) {
	t, err := s.lockApart.Load(ctx, key)
	if s.loads.Add(1) == 1 {
		s.afterLoad()
	}
	return t, err
}

func (s *steppedStore) TryLock(ctx context.Context, key string, ttl time.Duration) (func(), bool, error) {
	if s.locks.Add(1) == 1 {
		s.beforeLock()
	}
	return s.lockApart.TryLock(ctx, key, ttl)
}

// TestPanickingHookLeavesNoLock: a hook that panics while this process
// holds the refresh lock fails the refresh, and the lock is given back
// rather than left to hold the other processes off for its 15 s.
func TestPanickingHookLeavesNoLock(t *testing.T) {
	srv := newSim(t)
	mc := memcachedtest.Start(t)
	store := NewMemcacheStore(patientMemcache(mc.Addr))
	m := &Manager{Store: store, Hooks: &Hooks{FetchStart: func(FetchStartInfo) { panic("hook bug") }}}
	if _, err := m.Token(context.Background(), appCreds(srv)); !errors.Is(err, ErrFetchPanicked) {
		t.Fatalf("err = %v, want ErrFetchPanicked", err)
	}
	settle(m)
	if _, ok, err := store.TryLock(context.Background(), appCreds(srv).Key(), time.Second); !ok {
		t.Errorf("the refresh lock is still held after the panic: %v", err)
	}
	if got := srv.Fetches(testClientID); got != 0 {
		t.Errorf("%d fetches, want none: the hook panicked before the fetch", got)
	}
}
