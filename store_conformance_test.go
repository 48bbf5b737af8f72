package dingtoken_test

import (
	"testing"
	"time"

	"github.com/bradfitz/gomemcache/memcache"
	"github.com/dingtoken/dingtoken"
	"github.com/dingtoken/dingtoken/internal/memcachedtest"
	"github.com/dingtoken/dingtoken/storetest"
)

func TestMemoryStoreConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) dingtoken.Store { return dingtoken.NewMemoryStore() })
}

func TestMemcacheStoreConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) dingtoken.Store {
		// The suite asserts that every call succeeds, sixteen at once in
		// places: the client's default 100 ms timeout would turn a loaded
		// machine's pause into an i/o timeout that says nothing of the Store.
		c := memcache.New(memcachedtest.Start(t).Addr)
		c.Timeout = 2 * time.Second
		return dingtoken.NewMemcacheStore(c)
	})
}
