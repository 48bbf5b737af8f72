package dingtoken

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/bradfitz/gomemcache/memcache"
	"github.com/dingtoken/dingtoken/internal/memcachedtest"
)

// TestStaleTokenLockedInOneCommand: a LoadOrLock that names stale a token
// this store read or saved puts the lock in its place with one command, a
// cas. A token changed since is read first, as without the memo: saved
// again, it is still locked over; replaced by a fresh one, the fresh one
// comes back.
func TestStaleTokenLockedInOneCommand(t *testing.T) {
	ctx := context.Background()
	const key = "app:memo"
	stale := Token{Value: "tok-stale", Expiry: time.Now().Add(time.Hour)}
	fresh := Token{Value: "tok-fresh", Expiry: time.Now().Add(2 * time.Hour)}
	loaded := func(t *testing.T, s, other *MemcacheStore) {
		saveAndLearn(t, other, key, stale)
		if _, err := s.Load(ctx, key); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct {
		name      string
		seen      func(t *testing.T, s, other *MemcacheStore) // this store meets the stale token
		meanwhile *Token                                      // what another process saves after that
		want      Token                                       // zero: the lock
		commands  int64
	}{
		{"loaded", loaded, nil, Token{}, 1},
		{"saved", func(t *testing.T, s, _ *MemcacheStore) { saveAndLearn(t, s, key, stale) }, nil, Token{}, 1},
		{"never seen", func(t *testing.T, _, other *MemcacheStore) { saveAndLearn(t, other, key, stale) }, nil, Token{}, 3}, // add, get, cas
		{"saved again elsewhere", loaded, &stale, Token{}, 4},                                                               // cas, add, get, cas
		{"replaced elsewhere", loaded, &fresh, fresh, 3},                                                                    // cas, add, get
	} {
		t.Run(tc.name, func(t *testing.T) {
			mc := memcachedtest.StartOwn(t)
			s, other := NewMemcacheStore(memcache.New(mc.Addr)), NewMemcacheStore(memcache.New(mc.Addr))
			tc.seen(t, s, other)
			if tc.meanwhile != nil {
				saveAndLearn(t, other, key, *tc.meanwhile)
			}
			before := commands(mc.Stats())
			got, lock, err := s.LoadOrLock(ctx, key, stale, lockTTL)
			if n := commands(mc.Stats()) - before; n != tc.commands {
				t.Errorf("LoadOrLock made %d memcached commands, want %d", n, tc.commands)
			}
			if err != nil {
				t.Fatal(err)
			}
			if tc.want.Value == "" {
				if lock == nil {
					t.Fatalf("LoadOrLock = %v and no lock; want the lock in the stale token's place", got)
				}
				if _, err := other.Load(ctx, key); !errors.Is(err, ErrNotFound) {
					t.Errorf("another process's Load after the lock = %v; want ErrNotFound", err)
				}
				return
			}
			if lock != nil || got.Value != tc.want.Value {
				t.Errorf("LoadOrLock = %v, lock %v; want %v and no lock", got, lock != nil, tc.want)
			}
		})
	}
}

// saveAndLearn saves tok under key through s, and waits for the get that
// learns its cas id, so that later commands can be counted alone.
func saveAndLearn(t *testing.T, s *MemcacheStore, key string, tok Token) {
	t.Helper()
	if err := s.Save(context.Background(), key, tok); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, func() bool { return s.memo.holding(memcacheKey(key), encodeMemcacheValue(tok)) != nil })
}

// commands counts the get and storage commands in memcached's stats.
func commands(stats map[string]int64) int64 { return stats["cmd_get"] + stats["cmd_set"] }
