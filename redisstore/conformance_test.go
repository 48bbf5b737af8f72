package redisstore

import (
	"testing"

	"github.com/dingtoken/dingtoken"
	"github.com/dingtoken/dingtoken/internal/redistest"
	"github.com/dingtoken/dingtoken/storetest"
)

func TestConformanceSingleNode(t *testing.T) {
	t.Parallel()
	c := newClient(t, redistest.Start(t).Addr)
	storetest.Run(t, func(t *testing.T) dingtoken.Store { return newStore(t, c, uniquePrefix(), countTimeout) })
}

func TestConformanceCluster(t *testing.T) {
	t.Parallel()
	cluster := redistest.StartCluster(t, 3)
	c := newClusterClient(t, cluster.Addrs)
	storetest.Run(t, func(t *testing.T) dingtoken.Store { return newStore(t, c, uniquePrefix(), countTimeout) })

	// The keys above were spread over the masters: the Store ran on every
	// node of the cluster, not on one by chance.
	for _, s := range cluster.Servers {
		if n, err := s.Do("DBSIZE"); err != nil || n.(int64) == 0 {
			t.Errorf("master %s holds %v keys (%v), want some", s.Addr, n, err)
		}
	}
}

// TestConformanceSentinel: the Store on a client that finds the primary
// through a Sentinel (redis.NewFailoverClient).
func TestConformanceSentinel(t *testing.T) {
	t.Parallel()
	sentinel := redistest.StartSentinel(t)
	c := newFailoverClient(t, sentinel)
	storetest.Run(t, func(t *testing.T) dingtoken.Store { return newStore(t, c, uniquePrefix(), countTimeout) })
}

// TestConformanceDefaultTimeout: the suite within DefaultTimeout, run alone
// rather than beside the parallel tests.
func TestConformanceDefaultTimeout(t *testing.T) {
	c := newClient(t, redistest.Start(t).Addr)
	storetest.Run(t, func(t *testing.T) dingtoken.Store { return newStore(t, c, uniquePrefix(), 0) })
}
