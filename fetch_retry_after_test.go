package dingtoken

import (
	"context"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/dingtoken/dingtoken/dingtalktest"
)

// sendTimes is an http.RoundTripper that notes when each request went out,
// under the retrying client, so that a test sees the gaps between retries.
type sendTimes struct {
	mu    sync.Mutex
	times []time.Time
}

func (s *sendTimes) RoundTrip(req *http.Request) (*http.Response, error) {
	s.mu.Lock()
	s.times = append(s.times, time.Now())
	s.mu.Unlock()
	return http.DefaultTransport.RoundTrip(req)
}

// gaps returns the time between each request and the one before it.
func (s *sendTimes) gaps() []time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []time.Duration
	for i := 1; i < len(s.times); i++ {
		out = append(out, s.times[i].Sub(s.times[i-1]))
	}
	return out
}

// newTimedRetryClient returns a client from NewRetryClient whose requests
// are timed.
func newTimedRetryClient(t *testing.T) (*http.Client, *sendTimes) {
	st := &sendTimes{}
	c := NewRetryClient(st)
	t.Cleanup(c.CloseIdleConnections)
	return c, st
}

// TestRetryAfterIsHonouredInBothForms: a 429 or 503 says when to come back
// in seconds or as an HTTP date (RFC 9110, 10.2.3); the retry waits until
// then, and never comes sooner than its own backoff, even when told 0 or a
// date already past.
func TestRetryAfterIsHonouredInBothForms(t *testing.T) {
	tests := []struct {
		name       string
		status     int
		retryAfter func() string
		minGap     time.Duration
	}{
		{"503 with a date 3s ahead", 503, func() string { return time.Now().Add(3 * time.Second).UTC().Format(http.TimeFormat) }, 2 * time.Second},
		{"429 with a date 3s ahead", 429, func() string { return time.Now().Add(3 * time.Second).UTC().Format(http.TimeFormat) }, 2 * time.Second},
		{"429 with 0", 429, func() string { return "0" }, TokenRetryWaitMin / 2},
		{"503 with a date past", 503, func() string { return time.Now().Add(-time.Hour).UTC().Format(http.TimeFormat) }, TokenRetryWaitMin / 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv := newSim(t)
			srv.FailTokenRequests(1, dingtalktest.Fault{Status: tt.status, Header: http.Header{"Retry-After": {tt.retryAfter()}}})
			client, sent := newTimedRetryClient(t)
			c := &AppCredentials{ClientID: testClientID, ClientSecret: testSecret, Endpoint: srv.URL, HTTPClient: client}
			if _, err := c.Fetch(context.Background()); err != nil {
				t.Fatalf("Fetch: %v", err)
			}
			gaps := sent.gaps()
			if len(gaps) != 1 {
				t.Fatalf("%d requests sent, want 2", len(gaps)+1)
			}
			if gaps[0] < tt.minGap {
				t.Errorf("retry sent %v after the answer, want at least %v", gaps[0], tt.minGap)
			}
		})
	}
}
