package redistest

import (
	"fmt"
	"os/exec"
	"strings"
	"testing"
)

// ReplicatedCluster is a Redis Cluster in which every master has one
// replica, for failover and replica-read tests.
type ReplicatedCluster struct {
	Addrs   []string  // every node's host:port, masters and replicas
	Servers []*Server // every node, in the order of Addrs
}

// StartReplicatedCluster starts 2×masters cluster-enabled servers, joins
// them into a cluster of masters masters with one replica each
// (`redis-cli --cluster create --cluster-replicas 1`), and waits until every
// node says the cluster is ok and every replica has synced.
func StartReplicatedCluster(t testing.TB, masters int) *ReplicatedCluster {
	t.Helper()
	lookPath(t, "redis-cli")
	c := &ReplicatedCluster{}
	for range 2 * masters {
		port := freePort(t, true)
		s := startOn(t, port, "--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf",
			"--cluster-node-timeout", "5000")
		c.Servers = append(c.Servers, s)
		c.Addrs = append(c.Addrs, s.Addr)
	}
	args := append([]string{"--cluster", "create"}, c.Addrs...)
	args = append(args, "--cluster-replicas", "1", "--cluster-yes")
	if out, err := exec.Command("redis-cli", args...).CombinedOutput(); err != nil {
		t.Fatalf("redis-cli --cluster create: %v\n%s", err, out)
	}
	for _, addr := range c.Addrs {
		if err := waitFor(func() error {
			info, err := Do(addr, "CLUSTER", "INFO")
			if err != nil {
				return err
			}
			if s, _ := info.(string); !strings.Contains(s, "cluster_state:ok") || !strings.Contains(s, fmt.Sprintf("cluster_known_nodes:%d", 2*masters)) {
				return fmt.Errorf("not ready:\n%s", s)
			}
			// Every node sees each master with its replica: until then, a
			// node's view (and a client's slot map) may still change.
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
		}); err != nil {
			t.Fatalf("cluster node %s: %v", addr, err)
		}
	}
	return c
}
