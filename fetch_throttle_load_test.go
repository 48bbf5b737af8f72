package dingtoken

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/dingtoken/dingtoken/dingtalktest"
)

// TestThrottledEndpointIsNotHammered: 1,000 goroutines over 50 apps keep
// asking for tokens while DingTalk throttles its token endpoint for 5 s.
// Each app's refresh sends at most TokenRetryMax+1 requests, spaced out,
// and its failures hold the callers back (1 s, then 2 s, ...): the endpoint
// gets a handful of requests per app, not one per caller, and every caller
// has its token once the throttling ends.
func TestThrottledEndpointIsNotHammered(t *testing.T) {
	const (
		apps       = 50
		callers    = 1000
		throttling = 5 * time.Second
	)
	for _, tt := range []struct {
		name  string
		fault dingtalktest.Fault
	}{
		{"429", dingtalktest.Fault{Status: 429}},
		{"403 QpsLimitForApi", dingtalktest.Fault{Status: 403, Body: throttleBody("Forbidden.AccessDenied.QpsLimitForApi")}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			srv := dingtalktest.NewServer()
			defer srv.Close()
			creds := make([]*AppCredentials, apps)
			for i := range creds {
				id := fmt.Sprintf("ding-app-%02d", i)
				srv.AddApp(id, testSecret)
				creds[i] = &AppCredentials{ClientID: id, ClientSecret: testSecret, Endpoint: srv.URL}
			}
			srv.FailTokenRequests(1<<20, tt.fault)
			start := time.Now()
			lift := time.AfterFunc(throttling, srv.ClearFaults)
			defer lift.Stop()

			m := &Manager{}
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			var wg sync.WaitGroup
			failed := make(chan error, callers)
			for i := range callers {
				wg.Go(func() {
					f := creds[i%apps]
					for {
						_, err := m.Token(ctx, f)
						if err == nil {
							return
						}
						if ctx.Err() != nil {
							failed <- err
							return
						}
						// A caller with a request to make comes back soon: the
						// backoff answers it from memory.
						time.Sleep(20 * time.Millisecond)
					}
				})
			}
			wg.Wait()
			close(failed)
			for err := range failed {
				t.Fatalf("a caller never got its token: %v", err)
			}
			total, worst := srv.TotalFetches(), 0
			for _, f := range creds {
				worst = max(worst, srv.Fetches(f.ClientID))
			}
			t.Logf("%d token requests for %d apps (at most %d for one) over %v", total, apps, worst, time.Since(start).Round(100*time.Millisecond))
			// A failed refresh takes at least 0.25+0.5+1 s of retries and
			// is followed by a backoff of at least 1 s: within 5 s of
			// throttling an app starts at most 3 refreshes, the last of
			// which succeeds.
			const perApp = 3 * (TokenRetryMax + 1)
			if worst > perApp {
				t.Errorf("one app sent %d token requests, want at most %d", worst, perApp)
			}
		})
	}
}
