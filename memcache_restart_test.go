package dingtoken

import (
	"context"
	"testing"
	"time"

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
