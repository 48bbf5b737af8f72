package dingtoken

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/dingtoken/dingtoken/internal/memcachedtest"
)

// refusingLocker is a Locker on memcached whose TryLock fails without
// taking the lock.
type refusingLocker struct{ *MemcacheStore }

var errLockRefused = errors.New("the lock call failed")

func (refusingLocker) TryLock(context.Context, string, time.Duration) (func(), bool, error) {
	return nil, false, errLockRefused
}

// goexitLocker is a Locker on memcached whose TryLock calls runtime.Goexit.
type goexitLocker struct{ *MemcacheStore }

func (goexitLocker) TryLock(context.Context, string, time.Duration) (func(), bool, error) {
	runtime.Goexit()
	return nil, false, nil
}

// TestPanickingStoreErrorHookCountsTheLockErrorOnce: a failed lock call is
// one store error in Stats, even when the StoreError hook that reports it
// panics, as it is with a hook that returns; a TryLock that calls
// runtime.Goexit, which no hook is told of, is one too.
func TestPanickingStoreErrorHookCountsTheLockErrorOnce(t *testing.T) {
	srv := newSim(t)
	for _, tc := range []struct {
		name     string
		store    func(*MemcacheStore) Store
		unhooked uint64 // failures counted that no hook is told of
	}{
		{"a lock call that failed", func(s *MemcacheStore) Store { return lockApart{s, refusingLocker{s}} }, 0},
		{"a lock call that failed with the lock maybe taken", func(s *MemcacheStore) Store { return lockApart{s, uncertainLocker{s}} }, 0},
		{"a lock call that called runtime.Goexit", func(s *MemcacheStore) Store { return lockApart{s, goexitLocker{s}} }, 1},
	} {
		for _, panics := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s, hook panics %v", tc.name, panics), func(t *testing.T) {
				mc := memcachedtest.Start(t)
				var reported atomic.Uint64
				m := &Manager{Store: tc.store(NewMemcacheStore(patientMemcache(mc.Addr))), Hooks: &Hooks{StoreError: func(i StoreErrorInfo) {
					reported.Add(1)
					if panics && i.Op == "lock" {
						panic("hook bug")
					}
				}}}
				m.Token(context.Background(), appCreds(srv)) // the token, or ErrFetchPanicked
				settle(m)
				if got, want := m.Stats().StoreErrors, reported.Load()+tc.unhooked; got != want {
					t.Errorf("Stats().StoreErrors = %d, want %d: the StoreError hook was called %d times", got, want, reported.Load())
				}
			})
		}
	}
}
