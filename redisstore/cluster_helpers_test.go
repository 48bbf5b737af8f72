package redisstore

import (
	"context"
	"strconv"
	"strings"
	"testing"

	"github.com/dingtoken/dingtoken"
	"github.com/dingtoken/dingtoken/dingtalktest"
	"github.com/dingtoken/dingtoken/internal/redistest"
)

// gatedFetcher is the test app's credentials whose fetches wait for
// release, so that a test can change the cluster while a refresh holds the
// lock. started gets one value per fetch begun.
type gatedFetcher struct {
	*dingtoken.AppCredentials
	started chan struct{}
	release chan struct{}
}

func newGatedFetcher(sim *dingtalktest.Server) *gatedFetcher {
	return &gatedFetcher{AppCredentials: appCreds(sim), started: make(chan struct{}, 8), release: make(chan struct{})}
}

func (g *gatedFetcher) Fetch(ctx context.Context) (dingtoken.Token, error) {
	g.started <- struct{}{}
	select {
	case <-g.release:
	case <-ctx.Done():
		return dingtoken.Token{}, ctx.Err()
	}
	return g.AppCredentials.Fetch(ctx)
}

// clusterRefresh is a refresh of one key by two replicas of a service on
// a cluster, each with a client of its own: the fetcher they share, the
// key's name in Redis, its slot, and the master that served the slot at
// the start.
type clusterRefresh struct {
	sim            *dingtalktest.Server
	g              *gatedFetcher
	holder, waiter *dingtoken.Manager
	key            string
	slot           int
	from           clusterNode
}

func newClusterRefresh(t *testing.T, cluster *redistest.Cluster) *clusterRefresh {
	t.Helper()
	sim := newSim(t)
	r := &clusterRefresh{sim: sim, g: newGatedFetcher(sim)}
	prefix := uniquePrefix()
	r.holder = &dingtoken.Manager{Store: newStore(t, newClusterClient(t, cluster.Addrs), prefix, countTimeout)}
	r.waiter = &dingtoken.Manager{Store: newStore(t, newClusterClient(t, cluster.Addrs), prefix, countTimeout)}
	r.key = prefix + r.g.Key()
	r.slot = slotOf(t, cluster.Addrs[0], r.key)
	r.from = owner(t, cluster.Addrs[0], r.slot)
	return r
}

// clusterNode is one line of CLUSTER NODES.
type clusterNode struct {
	id, addr, master string
	primary          bool
	slots            []string
}

func clusterNodes(t *testing.T, addr string) []clusterNode {
	t.Helper()
	r, err := redistest.Do(addr, "CLUSTER", "NODES")
	if err != nil {
		t.Fatal(err)
	}
	var nodes []clusterNode
	for line := range strings.SplitSeq(strings.TrimSpace(r.(string)), "\n") {
		f := strings.Fields(line)
		if len(f) < 8 {
			continue
		}
		a, _, _ := strings.Cut(f[1], "@")
		nodes = append(nodes, clusterNode{id: f[0], addr: a, master: f[3],
			primary: strings.Contains(f[2], "master") && !strings.Contains(f[2], "fail"), slots: f[8:]})
	}
	return nodes
}

// slotOf is the cluster slot of key.
func slotOf(t *testing.T, addr, key string) int {
	t.Helper()
	r, err := redistest.Do(addr, "CLUSTER", "KEYSLOT", key)
	if err != nil {
		t.Fatal(err)
	}
	return int(r.(int64))
}

// owner returns the master that serves slot, as seen from addr.
func owner(t *testing.T, addr string, slot int) clusterNode {
	t.Helper()
	for _, n := range clusterNodes(t, addr) {
		if !n.primary {
			continue
		}
		for _, r := range n.slots {
			if strings.HasPrefix(r, "[") {
				continue // a migration under way
			}
			lo, hi, found := strings.Cut(r, "-")
			if !found {
				hi = lo
			}
			l, _ := strconv.Atoi(lo)
			h, _ := strconv.Atoi(hi)
			if l <= slot && slot <= h {
				return n
			}
		}
	}
	t.Fatalf("no master serves slot %d", slot)
	return clusterNode{}
}

// do sends one command to addr and fails the test on an error.
func do(t *testing.T, addr string, args ...string) any {
	t.Helper()
	r, err := redistest.Do(addr, args...)
	if err != nil {
		t.Fatalf("%s %v: %v", addr, args, err)
	}
	return r
}
