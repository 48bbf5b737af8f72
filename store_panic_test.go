package dingtoken

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/bradfitz/gomemcache/memcache"
	"github.com/dingtoken/dingtoken/internal/memcachedtest"
)

// A Store is best effort: a Store of another package that panics costs a
// refresh the Store, as any store error does, never the caller's request
// nor the process, and leaves no lock behind.

// panickingStore is a Store on memcached, as of another package, whose
// call named by op panics, with a value that must not reach the log.
type panickingStore struct {
	*MemcacheStore
	op string // "load", "save", "lock" or "loadOrLock"
}

const panicValue = "store bug near tok-in-panic"

func (s panickingStore) Load(ctx context.Context, key string) (Token, error) {
	s.panicIf("load")
	return s.MemcacheStore.Load(ctx, key)
}

func (s panickingStore) Save(ctx context.Context, key string, t Token) error {
	s.panicIf("save")
	return s.MemcacheStore.Save(ctx, key, t)
}

func (s panickingStore) TryLock(ctx context.Context, key string, ttl time.Duration) (func(), bool, error) {
	s.panicIf("lock")
	return s.MemcacheStore.TryLock(ctx, key, ttl)
}

func (s panickingStore) LoadOrLock(ctx context.Context, key string, stale Token, ttl time.Duration) (Token, *HeldLock, error) {
	s.panicIf("loadOrLock")
	return s.MemcacheStore.LoadOrLock(ctx, key, stale, ttl)
}

func (s panickingStore) panicIf(op string) {
	if s.op == op {
		panic(panicValue)
	}
}

// TestPanickingStoreCostsOnlyTheStore: whichever call of the Store panics,
// on a TokenLocker or on a Store and Locker apart, the caller gets the
// fetched token, each panic counts as one store error and is logged
// without its value, and no lock is left to hold other processes off.
func TestPanickingStoreCostsOnlyTheStore(t *testing.T) {
	srv := newSim(t)
	for _, tc := range []struct {
		name     string
		op       string
		asLocker bool // a Store and Locker apart, not a TokenLocker
		errors   uint64
	}{
		{"Load beside a Locker's lock", "load", true, 2}, // the load, and the holder's second look
		{"TryLock", "lock", true, 1},
		{"Save under a Locker's lock", "save", true, 1},
		{"LoadOrLock", "loadOrLock", false, 1},
		{"Save in place of the lock", "save", false, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			mc := memcachedtest.Start(t)
			mcs := NewMemcacheStore(patientMemcache(mc.Addr))
			var store Store = panickingStore{mcs, tc.op}
			if tc.asLocker {
				store = lockApart{store, store.(Locker)}
			}
			logger, logs := newLogger()
			m := &Manager{Store: store, Logger: logger}
			tok, err := m.Token(context.Background(), appCreds(srv))
			if err != nil || tok.Value != srv.CurrentToken(testClientID) {
				t.Fatalf("Token = %q, %v; want the fetched token", tok.Value, err)
			}
			settle(m)
			if st := m.Stats(); st.StoreErrors != tc.errors {
				t.Errorf("%d store errors, want %d", st.StoreErrors, tc.errors)
			}
			assertNoSecret(t, "the log", logs.String(), "tok-in-panic")
			if !strings.Contains(logs.String(), "the Store panicked") {
				t.Errorf("the log does not say the Store panicked:\n%s", logs)
			}
			key := appCreds(srv).Key()
			assertNoLockLeft(t, mcs, mc.Addr, key)
		})
	}
}

// assertNoLockLeft fails t if key's refresh lock is held on the memcached
// at addr, apart from the token (mcs's TryLock) or in its place.
func assertNoLockLeft(t *testing.T, mcs *MemcacheStore, addr, key string) {
	t.Helper()
	if _, ok, err := mcs.TryLock(context.Background(), key, time.Second); !ok {
		t.Errorf("the lock apart from the token is still held: %v", err)
	}
	if item, err := patientMemcache(addr).Get(memcacheKey(key)); err == nil && strings.HasPrefix(string(item.Value), memcacheLockValue) {
		t.Error("the lock in the token's place is still there")
	} else if err != nil && err != memcache.ErrCacheMiss {
		t.Fatal(err)
	}
}

// panickingDeleteStore is a MemoryStore whose Delete panics.
type panickingDeleteStore struct{ *MemoryStore }

func (s panickingDeleteStore) Delete(ctx context.Context, key, stale string) error {
	panic(panicValue)
}

// TestPanickingBackgroundStoreCall: Store work left to the background (here
// the removal of a rejected token) runs on a goroutine no caller's recovery
// reaches; its panic is a store error, and the next refresh goes on.
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
	if st := m.Stats(); st.StoreErrors != 1 {
		t.Errorf("%d store errors, want 1: the Delete that panicked", st.StoreErrors)
	}
	if got, err := m.Token(context.Background(), f); err != nil || got.Value == tok.Value {
		t.Errorf("after the rejection: %v, %v; want a new token", got, err)
	}
}

// TestPanickingStoreCostsAJSAPITicketOnlyTheStore: a JSAPITicket's refresh
// also reads and writes its sighting in the Store; a Store that panics
// there costs the sighting's sharing, not the ticket.
func TestPanickingStoreCostsAJSAPITicketOnlyTheStore(t *testing.T) {
	srv := newSim(t)
	for _, op := range []string{"load", "save"} {
		t.Run(op, func(t *testing.T) {
			mc := memcachedtest.Start(t)
			logger, logs := newLogger()
			m := &Manager{Store: panickingStore{NewMemcacheStore(patientMemcache(mc.Addr)), op}, Logger: logger}
			if _, err := m.Token(context.Background(), jsapiFor(srv, m, false)); err != nil {
				t.Fatalf("the ticket over a Store whose %s panics: %v", op, err)
			}
			settle(m)
			assertNoSecret(t, "the log", logs.String(), "tok-in-panic")
		})
	}
}
