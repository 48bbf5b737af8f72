package redisstore

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dingtoken/dingtoken"
	"github.com/dingtoken/dingtoken/internal/redistest"
	"github.com/redis/go-redis/v9"
)

// Environment of a child process started by TestProcessesShareOneFetch.
const (
	childEnv       = "DINGTOKEN_REDIS_TEST_CHILD"
	childSimEnv    = "DINGTOKEN_REDIS_TEST_SIM_URL"
	childAddrsEnv  = "DINGTOKEN_REDIS_TEST_ADDRS" // one address, or a Cluster's, comma-separated
	childPrefixEnv = "DINGTOKEN_REDIS_TEST_PREFIX"
)

// TestProcessesShareOneFetch starts 6 processes (this test binary,
// re-executed) cold against one Redis, single node and Cluster: one token
// fetch in all.
func TestProcessesShareOneFetch(t *testing.T) {
	if os.Getenv(childEnv) != "" {
		t.Skip("running as a child")
	}
	t.Parallel()
	for _, topology := range []struct {
		name  string
		addrs func(t *testing.T) []string
	}{
		{"single node", func(t *testing.T) []string { return []string{redistest.Start(t).Addr} }},
		{"cluster", func(t *testing.T) []string { return redistest.StartCluster(t, 3).Addrs }},
	} {
		t.Run(topology.name, func(t *testing.T) {
			const n = 6
			sim := newSim(t)
			sim.SetTokenDelay(200 * time.Millisecond) // a realistic DingTalk, so the processes overlap
			env := append(os.Environ(), childEnv+"=1", childSimEnv+"="+sim.URL,
				childAddrsEnv+"="+strings.Join(topology.addrs(t), ","), childPrefixEnv+"="+uniquePrefix())
			var wg sync.WaitGroup
			out := make([]string, n)
			errs := make([]error, n)
			start := make(chan struct{})
			for i := range n {
				wg.Go(func() {
					cmd := exec.Command(os.Args[0], "-test.run=^TestChildProcess$", "-test.count=1")
					cmd.Env = env
					<-start
					b, err := cmd.CombinedOutput()
					out[i], errs[i] = string(b), err
				})
			}
			close(start)
			wg.Wait()
			var first string
			for i := range n {
				if errs[i] != nil {
					t.Fatalf("child %d: %v\n%s", i, errs[i], out[i])
				}
				tok := childToken(out[i])
				if first == "" {
					first = tok
				}
				if tok == "" || tok != first {
					t.Errorf("child %d got token %q, child 0 %q", i, tok, first)
				}
			}
			if got := sim.Fetches(testClientID); got != 1 {
				t.Errorf("%d processes fetched %d times, want 1", n, got)
			}
		})
	}
}

// TestChildProcess is the body of each child process.
func TestChildProcess(t *testing.T) {
	if os.Getenv(childEnv) == "" {
		t.Skip("only run as a child of TestProcessesShareOneFetch")
	}
	c := redis.NewUniversalClient(&redis.UniversalOptions{
		Addrs:                 strings.Split(os.Getenv(childAddrsEnv), ","),
		IsClusterMode:         strings.Contains(os.Getenv(childAddrsEnv), ","),
		ContextTimeoutEnabled: true,
	})
	defer c.Close()
	s := New(c)
	s.Prefix, s.Timeout = os.Getenv(childPrefixEnv), countTimeout
	m := &dingtoken.Manager{Store: s}
	hc := &http.Client{Transport: &http.Transport{}}
	defer hc.CloseIdleConnections()
	f := &dingtoken.AppCredentials{ClientID: testClientID, ClientSecret: testSecret, Endpoint: os.Getenv(childSimEnv), HTTPClient: hc}
	tok, err := m.Token(context.Background(), f)
	if err != nil {
		t.Fatal(err)
	}
	m.Flush(context.Background()) // as a process about to exit should
	// A test token from our own simulator; printed so the parent can compare.
	fmt.Printf("child-token=%s\n", tok.Value)
}

func childToken(out string) string {
	for _, line := range strings.Split(out, "\n") {
		if v, ok := strings.CutPrefix(line, "child-token="); ok {
			return v
		}
	}
	return ""
}
