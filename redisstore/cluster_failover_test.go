package redisstore

import (
	"context"
	"testing"

	"github.com/dingtoken/dingtoken/internal/redistest"
)

// TestClusterFailoverWithLockHeld: the master of the token's slot fails
// over to its replica while a refresh holds the lock there (replicated
// first: a lock lost with its master costs a fetch, as documented). The
// holder saves on the promoted replica, the waiter gets its token, one
// fetch in all, and no lock is left.
func TestClusterFailoverWithLockHeld(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		killed bool
	}{{"CLUSTER FAILOVER", false}, {"master killed, CLUSTER FAILOVER TAKEOVER", true}} {
		t.Run(tc.name, func(t *testing.T) {
			cluster := redistest.StartReplicatedCluster(t, 3)
			r := newClusterRefresh(t, cluster)
			from, slot := r.from, r.slot
			var replica clusterNode
			for _, n := range clusterNodes(t, cluster.Addrs[0]) {
				if n.master == from.id {
					replica = n
				}
			}
			got := refreshAcross(t, r.holder, r.waiter, r.g, func() {
				if n := do(t, from.addr, "WAIT", "1", "5000"); n != int64(1) {
					t.Fatalf("WAIT = %v, want the lock on the replica", n)
				}
				if tc.killed {
					for _, s := range cluster.Servers {
						if s.Addr == from.addr {
							s.Stop()
						}
					}
					do(t, replica.addr, "CLUSTER", "FAILOVER", "TAKEOVER")
				} else {
					do(t, replica.addr, "CLUSTER", "FAILOVER")
				}
				waitFor(t, "the replica to serve the slot", func() bool { return owner(t, replica.addr, slot).addr == replica.addr })
			})
			// A lock lost with its master costs each replica a fetch;
			// replicated first, it is not lost, and a graceful failover
			// costs nothing.
			fetches := 1
			if tc.killed {
				fetches = 2
			}
			checkTokens(t, r.sim, got, fetches, newClusterClient(t, cluster.Addrs), r.key, r.holder, r.waiter)
			// The holder's own client, which met the dead master, now
			// reaches the promoted replica, rather than fail each call
			// until go-redis reloads the slots in a minute.
			if tok, err := r.holder.Store.Load(context.Background(), r.g.Key()); err != nil {
				t.Errorf("the holder's Store after the failover: %v, %v; want the token", tok, err)
			}
		})
	}
}
