package dingtoken

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/bradfitz/gomemcache/memcache"
	"github.com/dingtoken/dingtoken/internal/memcachedtest"
)

// TestMemcacheRestartCostsNoStoreCall: memcached restarts (an upgrade, a
// host's reboot) under replicas whose connection pools hold connections to
// the old process. The first call on each such connection meets its end
// (EOF, or a reset): the Store retries on a new connection instead of
// failing. The replicas still share one fetch, and the token is saved.
func TestMemcacheRestartCostsNoStoreCall(t *testing.T) {
	srv := newSim(t)
	srv.AddApp("ding-after-restart", testSecret)
	srv.SetTokenDelay(100 * time.Millisecond)
	mc := memcachedtest.StartOwn(t)
	ms := replicas(4, nil, mc.Addr)
	// Every replica's pool holds connections to this memcached.
	coldStart(t, ms, func() Fetcher { return appCreds(srv) }, 5*time.Second)
	for _, m := range ms {
		settle(m)
	}
	before := make([]uint64, len(ms))
	for i, m := range ms {
		before[i] = m.Stats().StoreErrors
	}
	mc.Restart()
	creds := func() Fetcher {
		return &AppCredentials{ClientID: "ding-after-restart", ClientSecret: testSecret, Endpoint: srv.URL}
	}
	tokens, _ := coldStart(t, ms, creds, 5*time.Second)
	for i, m := range ms {
		settle(m)
		if got := m.Stats().StoreErrors - before[i]; got != 0 {
			t.Errorf("replica %d: %d store errors after the restart, want 0", i, got)
		}
		if tokens[i] != tokens[0] {
			t.Errorf("replica %d has another token than replica 0", i)
		}
	}
	if got := srv.Fetches("ding-after-restart"); got != 1 {
		t.Errorf("%d fetches by %d replicas after memcached restarted, want 1", got, len(ms))
	}
	if _, err := ms[0].Store.Load(context.Background(), creds().Key()); err != nil {
		t.Errorf("the token is not in the restarted memcached: %v", err)
	}
}

// TestMemcacheRestartKeepsEveryCall: after a restart, each kind of call on
// a store whose pool holds connections to the old process succeeds on its
// first try, the lock apart from the token (SuiteTickets') too.
func TestMemcacheRestartKeepsEveryCall(t *testing.T) {
	mc := memcachedtest.StartOwn(t)
	s := NewMemcacheStore(patientMemcache(mc.Addr))
	ctx := context.Background()
	tok := Token{Value: "tok-restart", Expiry: time.Now().Add(time.Hour)}
	calls := []struct {
		name string
		call func() error
	}{
		{"Save", func() error { return s.Save(ctx, "app:restart", tok) }},
		{"Load", func() error { _, err := s.Load(ctx, "app:restart"); return err }},
		{"Delete", func() error { return s.Delete(ctx, "app:restart", tok.Value) }},
		{"TryLock", func() error {
			unlock, ok, err := s.TryLock(ctx, "app:restart-apart", time.Minute)
			if err == nil && !ok {
				return errors.New("the free lock was not taken")
			}
			if unlock != nil {
				unlock()
			}
			return err
		}},
		{"LoadOrLock", func() error {
			_, lock, err := s.LoadOrLock(ctx, "app:restart-in-place", Token{}, time.Minute)
			if err == nil && lock == nil {
				return errors.New("the free lock was not taken")
			}
			if lock != nil {
				defer lock.Unlock()
				if err == nil {
					err = lock.Extend(ctx, time.Minute)
				}
			}
			return err
		}},
	}
	for _, c := range calls {
		t.Run(c.name, func(t *testing.T) {
			if err := s.Save(ctx, "app:restart", tok); err != nil { // the pool holds a connection
				t.Fatal(err)
			}
			mc.Restart()
			// Something to load and delete, sent by a client of its own.
			if err := patientMemcache(mc.Addr).Set(&memcache.Item{Key: memcacheKey("app:restart"), Value: encodeMemcacheValue(tok), Expiration: 60}); err != nil {
				t.Fatal(err)
			}
			if err := c.call(); err != nil {
				t.Errorf("%s right after memcached restarted: %v", c.name, err)
			}
		})
	}
}
