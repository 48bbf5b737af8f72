package bench

import (
	"net/http"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/dingtoken/dingtoken"
	"github.com/dingtoken/dingtoken/dingtalktest"
)

// BenchmarkExpiryBoundary: request latency while the token crosses its
// refresh-ahead window and expires, with DingTalk's token endpoint taking
// 200 ms. Requests arrive on a fixed schedule, one a millisecond, each on its
// own goroutine, so a request stuck behind a refresh does not delay the
// next one from being sent (no coordinated omission). steady is the same
// load with a token that does not expire during the run.
//
// Each run takes a few seconds whatever b.N is; it reports p50 and p99.
func BenchmarkExpiryBoundary(b *testing.B) {
	b.Run("token=steady", func(b *testing.B) { expiryRun(b, 2*time.Hour, 0) })
	b.Run("token=expiring/refresh-ahead=on", func(b *testing.B) { expiryRun(b, 3*time.Second, 0) })
	b.Run("token=expiring/refresh-ahead=off", func(b *testing.B) { expiryRun(b, 3*time.Second, -1) })
}

func expiryRun(b *testing.B, ttl, refreshAhead time.Duration) {
	const (
		interval = time.Millisecond
		run      = 3500 * time.Millisecond // a 3 s token expires (less its margin) at 2.7 s
	)
	sim := dingtalktest.NewServer()
	defer sim.Close()
	sim.AddApp("expiry", "secret")
	sim.SetTokenTTL(ttl)
	sim.SetTokenDelay(200 * time.Millisecond)
	client := &http.Client{Transport: &dingtoken.Transport{
		Fetcher: &dingtoken.AppCredentials{ClientID: "expiry", ClientSecret: "secret", HTTPClient: sim.Client()},
		Manager: &dingtoken.Manager{RefreshAhead: refreshAhead},
		Base:    noopBase{legacyAnswer}, // no network: the latency is the token's alone
	}}
	send := func() time.Duration {
		start := time.Now()
		resp, err := client.Get("https://oapi.dingtalk.com/topapi/v2/user/get")
		if err != nil {
			b.Error(err)
			return 0
		}
		resp.Body.Close()
		return time.Since(start)
	}
	var all []time.Duration
	for range b.N {
		send() // the first token
		var mu sync.Mutex
		var wg sync.WaitGroup
		latencies := make([]time.Duration, 0, int(run/interval))
		start := time.Now()
		for i := 0; time.Since(start) < run; i++ {
			time.Sleep(time.Until(start.Add(time.Duration(i) * interval)))
			wg.Add(1)
			go func() {
				defer wg.Done()
				d := send()
				mu.Lock()
				latencies = append(latencies, d)
				mu.Unlock()
			}()
		}
		wg.Wait()
		all = append(all, latencies...)
	}
	slices.Sort(all)
	b.ReportMetric(float64(all[len(all)/2].Microseconds()), "p50-µs")
	b.ReportMetric(float64(all[len(all)*99/100].Microseconds()), "p99-µs")
	b.ReportMetric(0, "ns/op") // the run's length is fixed; its time per op means nothing
}
