package dingtoken

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/dingtoken/dingtoken/internal/memcachedtest"
)

// panickingUnlocker is a Locker on memcached whose unlock panics once it
// has released the lock.
type panickingUnlocker struct{ *MemcacheStore }

func (l panickingUnlocker) TryLock(ctx context.Context, key string, ttl time.Duration) (func(), bool, error) {
	unlock, ok, err := l.MemcacheStore.TryLock(ctx, key, ttl)
	if !ok {
		return unlock, ok, err
	}
	return func() { unlock(); panic(panicValue) }, ok, err
}

// failingDeleteStore is a MemoryStore whose Delete fails.
type failingDeleteStore struct{ *MemoryStore }

func (s failingDeleteStore) Delete(ctx context.Context, key, stale string) error {
	return errors.New("delete refused")
}

// TestBackgroundPanicsAreLogged: what runs in the background, where no
// refresh's recovery reaches, is a lock's release (a Locker's unlock) and a
// rejected token's removal (whose failure calls the StoreError hook). A
// panic there is logged, without its value, and the process lives on.
func TestBackgroundPanicsAreLogged(t *testing.T) {
	srv := newSim(t)
	for _, tc := range []struct {
		name  string
		store func(t *testing.T) Store
		hooks *Hooks
	}{
		{"a Locker's unlock", func(t *testing.T) Store {
			mcs := NewMemcacheStore(patientMemcache(memcachedtest.Start(t).Addr))
			return lockApart{mcs, panickingUnlocker{mcs}}
		}, nil},
		{"the StoreError hook of a failed Delete", func(t *testing.T) Store {
			return failingDeleteStore{NewMemoryStore()}
		}, &Hooks{StoreError: func(i StoreErrorInfo) {
			if i.Op == "delete" {
				panic(panicValue)
			}
		}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			logger, logs := newLogger()
			m := &Manager{Store: tc.store(t), Logger: logger, Hooks: tc.hooks}
			f := appCreds(srv)
			tok := tokenOf(t, m, f)
			srv.Revoke(tok)
			m.Invalidate(context.Background(), f, tok)
			settle(m)
			if got := tokenOf(t, m, f); got == tok {
				t.Errorf("after the rejection: %q again; want a new token", got)
			}
			settle(m)
			if !strings.Contains(logs.String(), "background store work panicked") {
				t.Errorf("the log does not say the background work panicked:\n%s", logs)
			}
			assertNoSecret(t, "the log", logs.String(), "tok-in-panic")
		})
	}
}
