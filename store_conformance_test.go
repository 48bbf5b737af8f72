package dingtoken_test

import (
	"testing"

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
		return dingtoken.NewMemcacheStore(memcache.New(memcachedtest.Start(t).Addr))
	})
}
