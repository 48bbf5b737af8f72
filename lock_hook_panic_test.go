package dingtoken

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/bradfitz/gomemcache/memcache"
	"github.com/dingtoken/dingtoken/internal/memcachedtest"
)

// uncertainLocker is a Locker on memcached whose TryLock takes the lock but
// reports an error with it, as a Store whose answer was lost does: the
// lock is maybe the caller's.
type uncertainLocker struct{ *MemcacheStore }

var errLockAnswerLost = errors.New("the lock's answer was lost")

func (l uncertainLocker) TryLock(ctx context.Context, key string, ttl time.Duration) (func(), bool, error) {
	unlock, ok, err := l.MemcacheStore.TryLock(ctx, key, ttl)
	if err != nil || !ok {
		return unlock, ok, err
	}
	return unlock, true, errLockAnswerLost
}

// TestPanickingStoreErrorHookGivesTheLockBack: a lock call that fails with
// the lock maybe taken (an answer lost; a corrupt value replaced with the
// lock) is reported to the StoreError hook; a hook that panics there must
// not cost the release, or every other process waits out the lock's 15 s.
func TestPanickingStoreErrorHookGivesTheLockBack(t *testing.T) {
	srv := newSim(t)
	for _, tc := range []struct {
		name    string
		store   func(*MemcacheStore) Store
		corrupt bool // a value that does not decode under the key first
	}{
		{"a Locker's lock, its answer lost", func(s *MemcacheStore) Store { return lockApart{s, uncertainLocker{s}} }, false},
		{"a TokenLocker's lock over a corrupt value", func(s *MemcacheStore) Store { return s }, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			mc := memcachedtest.Start(t)
			mcs := NewMemcacheStore(patientMemcache(mc.Addr))
			key := appCreds(srv).Key()
			if tc.corrupt {
				if err := patientMemcache(mc.Addr).Set(&memcache.Item{Key: memcacheKey(key), Value: []byte("dt9;spoilt")}); err != nil {
					t.Fatal(err)
				}
			}
			m := &Manager{Store: tc.store(mcs), Hooks: &Hooks{StoreError: func(i StoreErrorInfo) {
				if i.Op == "lock" {
					panic("hook bug")
				}
			}}}
			m.Token(context.Background(), appCreds(srv)) // the token, or ErrFetchPanicked: either way no lock left
			settle(m)
			assertNoLockLeft(t, mcs, mc.Addr, key)
		})
	}
}

// failingLoadStore is a MemcacheStore whose Load fails.
type failingLoadStore struct{ *MemcacheStore }

func (s failingLoadStore) Load(ctx context.Context, key string) (Token, error) {
	return Token{}, errors.New("load refused")
}

// TestPanickingHookBesideTheLockGivesItBack: a Locker's lock is taken
// beside the Store's load; a StoreError hook that panics over the load's
// error fails the refresh, and the lock taken beside goes back.
func TestPanickingHookBesideTheLockGivesItBack(t *testing.T) {
	srv := newSim(t)
	mc := memcachedtest.Start(t)
	mcs := NewMemcacheStore(patientMemcache(mc.Addr))
	m := &Manager{Store: lockApart{failingLoadStore{mcs}, mcs}, Hooks: &Hooks{StoreError: func(i StoreErrorInfo) {
		if i.Op == "load" {
			panic("hook bug")
		}
	}}}
	if _, err := m.Token(context.Background(), appCreds(srv)); !errors.Is(err, ErrFetchPanicked) {
		t.Fatalf("err = %v, want ErrFetchPanicked", err)
	}
	settle(m)
	if _, ok, err := mcs.TryLock(context.Background(), appCreds(srv).Key(), time.Second); !ok {
		t.Errorf("the lock taken beside the load is still held: %v", err)
	}
}
