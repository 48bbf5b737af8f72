package redisstore

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/dingtoken/dingtoken"
	"github.com/dingtoken/dingtoken/internal/redistest"
)

// TestRedisOutOfMemory: a Redis at its maxmemory with noeviction refuses
// every write (OOM). The lock and the save fail with Redis's own error, not
// a timeout: each replica fetches once and serves its token, every request
// succeeds, and a token Redis already holds is still read.
func TestRedisOutOfMemory(t *testing.T) {
	t.Parallel()
	srv := redistest.StartOwn(t, "--maxmemory", "4mb", "--maxmemory-policy", "noeviction")
	ctx := context.Background()
	c := newClient(t, srv.Addr)
	prefix := uniquePrefix()
	sim := newSim(t)
	// A token saved before Redis filled up.
	warmM := &dingtoken.Manager{Store: newStore(t, newClient(t, srv.Addr), prefix, countTimeout)}
	if err := burst(5, newTestClient(sim, warmM)); err != nil {
		t.Fatal(err)
	}
	filler := strings.Repeat("x", 64<<10)
	for i := 0; ; i++ {
		err := c.Set(ctx, "filler:"+itoa(int64(i)), filler, 0).Err()
		if err != nil {
			if !strings.HasPrefix(err.Error(), "OOM") {
				t.Fatal(err)
			}
			break
		}
	}
	managers := make([]*dingtoken.Manager, 3)
	for i := range managers {
		managers[i] = &dingtoken.Manager{Store: newStore(t, newClient(t, srv.Addr), prefix, countTimeout)}
		if err := burst(20, newTestClient(sim, managers[i])); err != nil {
			t.Fatalf("replica %d: %v", i, err)
		}
	}
	if got := sim.Fetches(testClientID); got != 1 {
		t.Errorf("cold replicas with the token in a full Redis: %d fetches, want 1 (the token read from Redis)", got)
	}
	// Another app: no token in Redis, and none can be written.
	other := newStore(t, c, prefix, countTimeout)
	_, held, err := other.LoadOrLock(ctx, "app:another", dingtoken.Token{}, 15*time.Second)
	if held != nil || err == nil || !strings.Contains(err.Error(), "OOM") {
		t.Errorf("LoadOrLock in a full Redis = %v, %v; want Redis's OOM error, no lock", held, err)
	}
}
