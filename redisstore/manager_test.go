package redisstore

import (
	"net/http"
	"testing"
	"time"

	"github.com/dingtoken/dingtoken"
	"github.com/dingtoken/dingtoken/internal/redistest"
	"github.com/redis/go-redis/v9"
)

// TestManagersShareOneFetch: four Managers, as four replicas each with its
// own Redis client, start cold under concurrent load and then see their
// token revoked: one fetch for the cold start, one for the revocation, on a
// single node and on a Cluster.
func TestManagersShareOneFetch(t *testing.T) {
	t.Parallel()
	for _, topology := range []struct {
		name      string
		newClient func(t *testing.T) func() redis.UniversalClient
	}{
		{"single node", func(t *testing.T) func() redis.UniversalClient {
			addr := redistest.Start(t).Addr
			return func() redis.UniversalClient { return newClient(t, addr) }
		}},
		{"cluster", func(t *testing.T) func() redis.UniversalClient {
			addrs := redistest.StartCluster(t, 3).Addrs
			return func() redis.UniversalClient { return newClusterClient(t, addrs) }
		}},
	} {
		t.Run(topology.name, func(t *testing.T) {
			srv := newSim(t)
			srv.SetTokenDelay(100 * time.Millisecond) // a realistic DingTalk, so the replicas overlap
			client := topology.newClient(t)
			prefix := uniquePrefix()
			managers := make([]*dingtoken.Manager, 4)
			clients := make([]*http.Client, 4)
			for i := range managers {
				managers[i] = &dingtoken.Manager{Store: newStore(t, client(), prefix, countTimeout)}
				clients[i] = newTestClient(srv, managers[i])
			}
			if err := burst(200, clients...); err != nil {
				t.Fatal(err)
			}
			if got := srv.Fetches(testClientID); got != 1 {
				t.Errorf("cold start of 4 replicas: %d fetches, want 1", got)
			}
			srv.RevokeAll()
			if err := burst(200, clients...); err != nil {
				t.Fatal(err)
			}
			if got := srv.Fetches(testClientID); got != 2 {
				t.Errorf("after a revocation: %d fetches in all, want 2", got)
			}
			var l2Hits, storeErrors uint64
			for _, m := range managers {
				st := m.Stats()
				l2Hits, storeErrors = l2Hits+st.L2Hits, storeErrors+st.StoreErrors
			}
			if l2Hits < 6 || storeErrors != 0 {
				t.Errorf("L2 hits %d, store errors %d; want the 3 replicas that did not fetch to load each token, and no errors", l2Hits, storeErrors)
			}
		})
	}
}
