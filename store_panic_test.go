package dingtoken

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/dingtoken/dingtoken/internal/memcachedtest"
)

// panickingLoadStore is a Store and Locker, no TokenLocker, as a Store of
// another package, whose Load panics once the lock taken beside it is held:
// a decoding bug meeting a value it does not expect.
type panickingLoadStore struct {
	lockApart
	locked chan struct{} // closed by the first TryLock that took the lock
}

func (s *panickingLoadStore) Load(ctx context.Context, key string) (Token, error) {
	<-s.locked
	panic("store bug")
}

func (s *panickingLoadStore) TryLock(ctx context.Context, key string, ttl time.Duration) (func(), bool, error) {
	unlock, ok, err := s.lockApart.TryLock(ctx, key, ttl)
	if ok {
		select {
		case <-s.locked:
		default:
			close(s.locked)
		}
	}
	return unlock, ok, err
}

// TestPanickingStoreLoadLeavesNoLock: a Locker's lock is taken at the same
// time as the Store is read; when the read panics, the refresh fails with
// ErrFetchPanicked, and the lock taken beside it is given back rather than
// left to hold the other processes off for its 15 s.
func TestPanickingStoreLoadLeavesNoLock(t *testing.T) {
	srv := newSim(t)
	mc := memcachedtest.Start(t)
	mcs := NewMemcacheStore(patientMemcache(mc.Addr))
	store := &panickingLoadStore{lockApart: lockerOnly(mcs), locked: make(chan struct{})}
	m := &Manager{Store: store}
	if _, err := m.Token(context.Background(), appCreds(srv)); !errors.Is(err, ErrFetchPanicked) {
		t.Fatalf("err = %v, want ErrFetchPanicked", err)
	}
	settle(m)
	if _, ok, err := mcs.TryLock(context.Background(), appCreds(srv).Key(), time.Second); !ok {
		t.Errorf("the refresh lock is still held after the Store's Load panicked: %v", err)
	}
}

// panickingLockStore is a Store and Locker, no TokenLocker, whose TryLock
// panics.
type panickingLockStore struct{ lockApart }

func (s panickingLockStore) TryLock(ctx context.Context, key string, ttl time.Duration) (func(), bool, error) {
	panic("lock bug")
}

// TestPanickingStoreLockIsAFailedLock: TryLock runs beside the Store's
// read, on a goroutine of its own; its panic must not take the process
// down. The refresh goes on without the lock.
func TestPanickingStoreLockIsAFailedLock(t *testing.T) {
	srv := newSim(t)
	mc := memcachedtest.Start(t)
	m := &Manager{Store: panickingLockStore{lockerOnly(NewMemcacheStore(patientMemcache(mc.Addr)))}}
	tok, err := m.Token(context.Background(), appCreds(srv))
	if err != nil || tok.Value != srv.CurrentToken(testClientID) {
		t.Fatalf("Token = %v, %v; want the fetched token", tok, err)
	}
	settle(m)
	if st := m.Stats(); st.StoreErrors != 1 {
		t.Errorf("stats %+v; want the panicking lock counted as one store error", st)
	}
}

// panickingDeleteStore is a MemoryStore whose Delete panics.
type panickingDeleteStore struct{ *MemoryStore }

func (s panickingDeleteStore) Delete(ctx context.Context, key, stale string) error {
	panic("delete bug")
}

// TestPanickingBackgroundStoreCall: Store work left to the background (here
// the removal of a rejected token) runs on a goroutine no caller's recovery
// reaches; its panic must not take the process down, and the next refresh
// goes on.
func TestPanickingBackgroundStoreCall(t *testing.T) {
	srv := newSim(t)
	m := &Manager{Store: panickingDeleteStore{NewMemoryStore()}}
	f := appCreds(srv)
	tok, err := m.Token(context.Background(), f)
	if err != nil {
		t.Fatal(err)
	}
	srv.Revoke(tok.Value)
	m.Invalidate(context.Background(), f, tok.Value)
	settle(m)
	if got, err := m.Token(context.Background(), f); err != nil || got.Value == tok.Value {
		t.Errorf("after the rejection: %v, %v; want a new token", got, err)
	}
}
