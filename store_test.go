package dingtoken

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/bradfitz/gomemcache/memcache"
	"github.com/dingtoken/dingtoken/internal/memcachedtest"
)

// stores are the Store implementations the conformance suite runs against.
var stores = map[string]func(t *testing.T) Store{
	"MemoryStore": func(t *testing.T) Store { return NewMemoryStore() },
	"MemcacheStore": func(t *testing.T) Store {
		return NewMemcacheStore(memcache.New(memcachedtest.Start(t).Addr))
	},
}

// TestStoreConformance runs one suite against every Store.
func TestStoreConformance(t *testing.T) {
	for name, newStore := range stores {
		t.Run(name, func(t *testing.T) {
			t.Run("miss", func(t *testing.T) {
				if _, err := newStore(t).Load(context.Background(), "app:none"); !errors.Is(err, ErrNotFound) {
					t.Errorf("Load of a missing key: err = %v, want ErrNotFound", err)
				}
			})
			t.Run("round trip keeps the expiry", func(t *testing.T) {
				s := newStore(t)
				want := Token{Value: "tok-a", Expiry: time.Now().Add(time.Hour).Truncate(time.Millisecond)}
				mustSave(t, s, "app:rt", want)
				got, err := s.Load(context.Background(), "app:rt")
				if err != nil || got.Value != want.Value || !got.Expiry.Equal(want.Expiry) {
					t.Errorf("Load = %v, %v; want %v", got, err, want)
				}
			})
			t.Run("expired is a miss", func(t *testing.T) {
				s := newStore(t)
				mustSave(t, s, "app:old", Token{Value: "tok-old", Expiry: time.Now().Add(-time.Second)})
				if _, err := s.Load(context.Background(), "app:old"); !errors.Is(err, ErrNotFound) {
					t.Errorf("Load of an expired token: err = %v, want ErrNotFound", err)
				}
			})
			t.Run("delete compares", func(t *testing.T) {
				s := newStore(t)
				ctx := context.Background()
				mustSave(t, s, "app:d", Token{Value: "tok-old", Expiry: time.Now().Add(time.Hour)})
				mustSave(t, s, "app:d", Token{Value: "tok-new", Expiry: time.Now().Add(time.Hour)})
				if err := s.Delete(ctx, "app:d", "tok-old"); err != nil {
					t.Fatal(err)
				}
				if got, err := s.Load(ctx, "app:d"); err != nil || got.Value != "tok-new" {
					t.Errorf("after deleting a stale value: %v, %v; want tok-new to survive", got, err)
				}
				if err := s.Delete(ctx, "app:d", "tok-new"); err != nil {
					t.Fatal(err)
				}
				if _, err := s.Load(ctx, "app:d"); !errors.Is(err, ErrNotFound) {
					t.Errorf("after deleting the stored value: err = %v, want ErrNotFound", err)
				}
				if err := s.Delete(ctx, "app:never", "x"); err != nil {
					t.Errorf("Delete of a missing key: %v", err)
				}
			})
			t.Run("any key", func(t *testing.T) {
				s := newStore(t)
				keys := []string{"corp:suite key with spaces:corp", strings.Repeat("k", 300), "ctl\x01\n\x7f", strings.Repeat("k", 301)}
				for i, k := range keys {
					mustSave(t, s, k, Token{Value: "tok-" + string(rune('a'+i)), Expiry: time.Now().Add(time.Hour)})
				}
				for i, k := range keys {
					if got, err := s.Load(context.Background(), k); err != nil || got.Value != "tok-"+string(rune('a'+i)) {
						t.Errorf("key %d: %v, %v", i, got, err)
					}
				}
			})
			t.Run("lock", func(t *testing.T) {
				l, ok := newStore(t).(Locker)
				if !ok {
					t.Skip("not a Locker")
				}
				testLocker(t, l)
			})
		})
	}
}

func testLocker(t *testing.T, l Locker) {
	ctx := context.Background()
	unlock, ok, err := l.TryLock(ctx, "app:l", time.Minute)
	if err != nil || !ok {
		t.Fatalf("first TryLock: %v, %v", ok, err)
	}
	if _, ok, err := l.TryLock(ctx, "app:l", time.Minute); err != nil || ok {
		t.Fatalf("second TryLock while held: %v, %v; want not ok", ok, err)
	}
	if _, ok, _ := l.TryLock(ctx, "app:other", time.Minute); !ok {
		t.Error("a lock on another key was refused")
	}
	unlock()
	unlock2, ok, err := l.TryLock(ctx, "app:l", time.Second)
	if err != nil || !ok {
		t.Fatalf("TryLock after unlock: %v, %v", ok, err)
	}
	// The short lock expires; a third holder takes it; the second's late
	// unlock must not release the third's.
	var unlock3 func()
	waitUntil(t, func() bool {
		u, ok, _ := l.TryLock(ctx, "app:l", time.Minute)
		unlock3 = u
		return ok
	})
	unlock2()
	if _, ok, _ := l.TryLock(ctx, "app:l", time.Minute); ok {
		t.Error("an expired holder's unlock released the current holder's lock")
	}
	unlock3()
}

func mustSave(t *testing.T, s Store, key string, tok Token) {
	t.Helper()
	if err := s.Save(context.Background(), key, tok); err != nil {
		t.Fatal(err)
	}
}
