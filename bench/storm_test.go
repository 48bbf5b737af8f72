package bench

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"sync"
	"testing"
	"time"

	"github.com/bradfitz/gomemcache/memcache"
	"github.com/dingtoken/dingtoken"
	"github.com/dingtoken/dingtoken/dingtalktest"
	"github.com/dingtoken/dingtoken/internal/memcachedtest"
)

// Storms: many callers meet a missing or rejected token at once. Each
// reports how many token fetches DingTalk saw per storm (fetches/storm).

const (
	stormSecret = "bench-secret"
	childEnv    = "DINGTOKEN_BENCH_CHILD" // "simURL memcachedAddr appID" in a child process
)

// TestMain turns this binary into a storm participant when started by
// BenchmarkStormProcesses, or into a simulator when started by startSim.
func TestMain(m *testing.M) {
	if os.Getenv(simEnv) != "" {
		serveSim()
	}
	if v := os.Getenv(childEnv); v != "" {
		var simURL, mcAddr, app string
		fmt.Sscan(v, &simURL, &mcAddr, &app)
		mgr := &dingtoken.Manager{Store: dingtoken.NewMemcacheStore(memcache.New(mcAddr))}
		_, err := mgr.Token(context.Background(), &dingtoken.AppCredentials{ClientID: app, ClientSecret: stormSecret, Endpoint: simURL})
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// together runs n goroutines released at once and waits for them.
func together(n int, fn func(i int)) {
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			fn(i)
		}()
	}
	close(start)
	wg.Wait()
}

// stormSim starts a simulator whose token endpoint answers in a realistic
// 50 ms, so that a storm's callers overlap.
func stormSim(b *testing.B) *dingtalktest.Server {
	sim := dingtalktest.NewServer()
	b.Cleanup(sim.Close)
	sim.SetTokenDelay(50 * time.Millisecond)
	return sim
}

// newApp registers a fresh app for one storm, so that no storm inherits
// another's token.
func newApp(sim *dingtalktest.Server, name string, i int) string {
	app := fmt.Sprintf("%s-%d-%d", name, time.Now().UnixNano(), i)
	sim.AddApp(app, stormSecret)
	return app
}

// BenchmarkStormColdStart: 10,000 goroutines want a token no one has.
func BenchmarkStormColdStart(b *testing.B) {
	sim := stormSim(b)
	fetches := 0
	for i := range b.N {
		app := newApp(sim, "cold", i)
		m := &dingtoken.Manager{}
		f := &dingtoken.AppCredentials{ClientID: app, ClientSecret: stormSecret, HTTPClient: sim.Client()}
		together(10000, func(int) {
			if _, err := m.Token(context.Background(), f); err != nil {
				b.Error(err)
			}
		})
		fetches += sim.Fetches(app)
	}
	b.ReportMetric(float64(fetches)/float64(b.N), "fetches/storm")
}

// BenchmarkStormRevoked: 1,000 concurrent requests meet a token DingTalk has
// just revoked.
func BenchmarkStormRevoked(b *testing.B) {
	sim := stormSim(b)
	fetches := 0
	for i := range b.N {
		app := newApp(sim, "revoked", i)
		client := &http.Client{Transport: &dingtoken.Transport{
			Fetcher: &dingtoken.AppCredentials{ClientID: app, ClientSecret: stormSecret, HTTPClient: sim.Client()},
			Manager: &dingtoken.Manager{},
			Base:    sim.Transport(),
		}}
		get(b, client)
		sim.RevokeAll()
		before := sim.Fetches(app)
		together(1000, func(int) { get(b, client) })
		fetches += sim.Fetches(app) - before
	}
	b.ReportMetric(float64(fetches)/float64(b.N), "fetches/storm")
}

func get(b *testing.B, c *http.Client) {
	resp, err := c.Get("https://oapi.dingtalk.com/topapi/v2/user/get")
	if err != nil {
		b.Error(err)
		return
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(body[:12]) != `{"errcode":0` {
		b.Errorf("DingTalk answered %s", body)
	}
}

// BenchmarkStormProcesses: 8 processes (this binary, re-executed) start cold
// against one memcached.
func BenchmarkStormProcesses(b *testing.B) {
	sim := stormSim(b)
	mc := memcachedtest.Start(b)
	fetches := 0
	for i := range b.N {
		app := newApp(sim, "procs", i)
		together(8, func(int) {
			cmd := exec.Command(os.Args[0])
			cmd.Env = append(os.Environ(), childEnv+"="+sim.URL+" "+mc.Addr+" "+app)
			if out, err := cmd.CombinedOutput(); err != nil {
				b.Errorf("child: %v %s", err, out)
			}
		})
		fetches += sim.Fetches(app)
	}
	b.ReportMetric(float64(fetches)/float64(b.N), "fetches/storm")
}
