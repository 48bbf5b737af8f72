package redistest

import (
	"fmt"
	"strings"
	"testing"
)

// StartReplicatedCluster starts a cluster of masters masters with one
// replica each, for failover and replica-read tests, and waits until every
// node sees each master with its replica (until then, a node's view, and a
// client's slot map, may still change) and every replica has synced.
func StartReplicatedCluster(t testing.TB, masters int) *Cluster {
	t.Helper()
	return startCluster(t, masters, 1, func(addr string) error {
		nodes, err := Do(addr, "CLUSTER", "NODES")
		if err != nil {
			return err
		}
		if n, _ := nodes.(string); strings.Count(n, "slave") != masters || strings.Count(n, "master") != masters {
			return fmt.Errorf("replicas not placed yet:\n%s", n)
		}
		repl, err := Do(addr, "INFO", "replication")
		if err != nil {
			return err
		}
		if s, _ := repl.(string); strings.Contains(s, "role:slave") && (!strings.Contains(s, "master_link_status:up") || !strings.Contains(s, "master_sync_in_progress:0")) {
			return fmt.Errorf("replica not synced:\n%s", s)
		}
		return nil
	})
}
