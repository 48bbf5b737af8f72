package main

import (
	"fmt"
	"strings"

	"github.com/bradfitz/gomemcache/memcache"
	"github.com/dingtoken/dingtoken"
)

// newMemcacheStore connects to memcached at addr, which may list several
// servers separated by commas.
func newMemcacheStore(addr string) (dingtoken.Store, error) {
	client := memcache.New(strings.Split(addr, ",")...)
	// A service carries on without memcached; here a failure is more likely
	// a typo in MEMCACHED_ADDR, worth pointing out.
	if err := client.Ping(); err != nil {
		return nil, fmt.Errorf("memcached at %s: %w", addr, err)
	}
	return dingtoken.NewMemcacheStore(client), nil
}
