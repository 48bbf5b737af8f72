package dingtoken

import (
	"context"
	"io"
	"net/http"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// TestRejectionsAreDampedAsAChain: a path that always answers 401
// Unauthorized (it wants a user's token, say) drops the good token once;
// when the token that replaced it is rejected too, the key stops dropping
// tokens, and callers get DingTalk's answer as it is.
func TestRejectionsAreDampedAsAChain(t *testing.T) {
	srv := newSim(t)
	srv.Handle("/v1.0/wants/a/user/token", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusUnauthorized)
		io.WriteString(w, `{"code":"Unauthorized","message":"需要用户授权","requestid":"R1"}`)
	}))
	m := &Manager{}
	c := newTestClient(srv, m)
	for i := range 50 {
		resp, err := c.Get("https://api.dingtalk.com/v1.0/wants/a/user/token")
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnauthorized || !strings.Contains(string(body), "Unauthorized") {
			t.Fatalf("request %d: HTTP %d %s; want DingTalk's 401 as it is", i, resp.StatusCode, body)
		}
	}
	if got := srv.Fetches(testClientID); got > 2 {
		t.Errorf("50 requests to a path that always answers 401 made %d token fetches, want at most 2", got)
	}
	if got := m.Stats().Invalidations; got != 1 {
		t.Errorf("Invalidations = %d, want 1: only the first token was dropped", got)
	}
	// Other paths still work with the token that was kept.
	if err := apiCall(c, 0); err != nil {
		t.Error(err)
	}
}

// TestTokenRevokedRightAfterItsReplacementRecovers: the first rejection of a
// token DingTalk has taken always drops it, however young it is.
func TestTokenRevokedRightAfterItsReplacementRecovers(t *testing.T) {
	srv := newSim(t)
	m := &Manager{}
	c := newTestClient(srv, m)
	for i := range 5 {
		srv.RevokeAll() // every request meets a token revoked moments ago
		if err := apiCall(c, i); err != nil {
			t.Fatalf("revocation %d: %v", i, err)
		}
	}
	if got := m.Stats().DampedRejections; got != 0 {
		t.Errorf("DampedRejections = %d; a revoked token that had worked is news every time", got)
	}
}

// TestFetcherCallingGoexit: a fetcher that calls runtime.Goexit (a test's
// t.FailNow) gives its waiters an error at once, and the key refreshes later.
func TestFetcherCallingGoexit(t *testing.T) {
	var calls atomic.Int32
	f := FetcherFunc("goexit", func(context.Context) (Token, error) {
		if calls.Add(1) == 1 {
			runtime.Goexit()
		}
		return Token{Value: "after-goexit", Expiry: time.Now().Add(time.Hour)}, nil
	})
	m := &Manager{}
	errs := run(20, func(int) error {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_, err := m.Token(ctx, f)
		return err
	})
	for _, err := range errs {
		if err == nil || !strings.Contains(err.Error(), "Goexit") {
			t.Fatalf("err = %v; want an error naming runtime.Goexit", err)
		}
	}
	if m.state(f).flight.Load() != nil {
		t.Error("the refresh is still marked as running")
	}
	waitUntil(t, func() bool {
		tok, err := m.Token(context.Background(), f)
		return err == nil && tok.Value == "after-goexit"
	})
}

// TestTokenRejectedWhileBeingFetched: a refresh whose fetch returns the very
// token DingTalk rejected while the fetch ran fetches once more, instead of
// installing a token known to be bad.
func TestTokenRejectedWhileBeingFetched(t *testing.T) {
	var calls atomic.Int32
	started, release := make(chan struct{}), make(chan struct{})
	f := FetcherFunc("rejected-in-flight", func(context.Context) (Token, error) {
		if calls.Add(1) == 1 {
			close(started)
			<-release
			return Token{Value: "tok-a", Expiry: time.Now().Add(time.Hour)}, nil
		}
		return Token{Value: "tok-b", Expiry: time.Now().Add(time.Hour)}, nil
	})
	m := &Manager{}
	got := make(chan Token, 1)
	go func() {
		tok, _ := m.Token(context.Background(), f)
		got <- tok
	}()
	<-started
	m.Invalidate(context.Background(), f, "tok-a") // another request met tok-a revoked
	close(release)
	if tok := <-got; tok.Value != "tok-b" {
		t.Errorf("got %v; want the token fetched after the rejection", tok)
	}
	if n := calls.Load(); n != 2 {
		t.Errorf("fetcher called %d times, want 2", n)
	}
}
