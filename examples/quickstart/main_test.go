package main

import (
	"strings"
	"testing"

	"github.com/dingtoken/dingtoken/internal/memcachedtest"
	"github.com/dingtoken/dingtoken/internal/redistest"
)

// TestQuickstart runs the README's first command against the simulator,
// alone and sharing tokens through each store.
func TestQuickstart(t *testing.T) {
	for _, tc := range []struct {
		name, memcached, redis string
	}{
		{name: "memory only"},
		{name: "memcached", memcached: memcachedtest.Start(t).Addr},
		{name: "redis", redis: redistest.Start(t).Addr},
		{name: "redis cluster", redis: strings.Join(redistest.StartCluster(t, 3).Addrs, ",")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv("DINGTALK_CLIENT_ID", "")
			t.Setenv("MEMCACHED_ADDR", tc.memcached)
			t.Setenv("REDIS_ADDR", tc.redis)
			if err := run(); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestQuickstartRefusesTwoStores(t *testing.T) {
	t.Setenv("DINGTALK_CLIENT_ID", "")
	t.Setenv("MEMCACHED_ADDR", memcachedtest.Start(t).Addr)
	t.Setenv("REDIS_ADDR", redistest.Start(t).Addr)
	if err := run(); err == nil || !strings.Contains(err.Error(), "not both") {
		t.Errorf("run with both stores: err = %v, want a refusal", err)
	}
}
