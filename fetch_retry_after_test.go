package dingtoken

import (
	"context"
	"errors"
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

// TestRetryAfterBeyondTheRefreshIsNotWaitedFor: a Retry-After longer than
// the fetch may wait (its cap, or what is left of RefreshTimeout) is not
// slept through to end in a bare context.DeadlineExceeded, nor answered
// with a request DingTalk asked not to get: the fetch fails at once with
// DingTalk's answer, which names the throttling.
func TestRetryAfterBeyondTheRefreshIsNotWaitedFor(t *testing.T) {
	tests := []struct {
		name           string
		retryAfter     string
		refreshTimeout time.Duration
	}{
		{"an hour", "3600", 5 * time.Second},
		{"longer than the refresh timeout", "4", 2 * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv := newSim(t)
			srv.FailTokenRequests(10, dingtalktest.Fault{Status: 429, Header: http.Header{"Retry-After": {tt.retryAfter}}})
			m := &Manager{RefreshTimeout: tt.refreshTimeout}
			_, err := m.Token(context.Background(), appCreds(srv))
			var ae *APIError
			if !errors.As(err, &ae) || ae.StatusCode != 429 || errors.Is(err, context.DeadlineExceeded) {
				t.Errorf("err = %v, want DingTalk's 429 answer", err)
			}
			if got := srv.Fetches(testClientID); got != 1 {
				t.Errorf("token endpoint called %d times, want 1", got)
			}
		})
	}
}
