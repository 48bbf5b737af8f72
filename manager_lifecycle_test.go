package dingtoken

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync/atomic"
	"testing"
	"time"
)

// TestFarFutureExpiryIsFetchedOnce: a Fetcher of the user's that says its
// token lasts for centuries (a static token, say) gets it fetched once and
// handed out from memory, not fetched on every call: the entry's moments
// must not overflow Unix nanoseconds (past the year 2262).
func TestFarFutureExpiryIsFetchedOnce(t *testing.T) {
	for _, expiry := range []time.Time{
		time.Date(2200, 1, 1, 0, 0, 0, 0, time.UTC),
		time.Date(3000, 1, 1, 0, 0, 0, 0, time.UTC),
		time.Date(9999, 12, 31, 0, 0, 0, 0, time.UTC),
	} {
		t.Run(fmt.Sprint(expiry.Year()), func(t *testing.T) {
			var fetches atomic.Int32
			f := FetcherFunc("static", func(context.Context) (Token, error) {
				fetches.Add(1)
				return Token{Value: "static-token", Expiry: expiry}, nil
			})
			m := &Manager{}
			for range 5 {
				got, err := m.Token(context.Background(), f)
				if err != nil || got.Value != "static-token" {
					t.Fatalf("got %v, %v; want the static token", got, err)
				}
			}
			settle(m)
			if got, want := fetches.Load(), int32(1); got != want {
				t.Errorf("fetches = %d, want %d", got, want)
			}
		})
	}
}

// TestKeyForgottenAsACallerArrivesIsFetchedOnce: the scheduler may forget
// an idle key between a caller's finding it and that caller's starting its
// refresh. The refresh is then the key's new state's, which the next
// caller finds: one fetch, one token, not a second fetch for a state
// nobody looks up any more.
func TestKeyForgottenAsACallerArrivesIsFetchedOnce(t *testing.T) {
	m := &Manager{}
	f, fetches := sequenceFetcher("forgotten-on-arrival", time.Hour)
	ks := m.state(f) // a key that has no token yet
	paused, resume := make(chan struct{}), make(chan struct{})
	var pausedOnce atomic.Bool
	m.testHookBeforeJoin = func() {
		if pausedOnce.CompareAndSwap(false, true) {
			close(paused)
			<-resume
		}
	}
	first := make(chan string, 1)
	go func() {
		tok, err := m.Token(context.Background(), f)
		if err != nil {
			t.Error(err)
		}
		first <- tok.Value
	}()
	<-paused
	// The scheduler read the key's last use before this caller stored its
	// own, and forgets the key now.
	s := m.scheduler()
	s.mu.Lock()
	next := m.wake(time.Now().Add(time.Hour), ks)
	s.mu.Unlock()
	if !next.IsZero() || !ks.forgotten.Load() {
		t.Fatalf("the idle key was not forgotten (next look %v)", next)
	}
	close(resume)
	a := <-first
	b := tokenOf(t, m, f)
	settle(m)
	if got, want := fetches.Load(), int32(1); got != want || a != b {
		t.Errorf("fetches = %d, want %d; tokens %q then %q, want one token", got, want, a, b)
	}
}

// TestTokenRejectedAsItIsInstalledIsNotHandedOut: DingTalk re-issues an
// internal app's token until it revokes it, so a refresh may obtain the
// very token a caller is reporting rejected. Reported after the refresh
// looked for rejections but before it installed the token, the token must
// still not be installed and handed out again.
func TestTokenRejectedAsItIsInstalledIsNotHandedOut(t *testing.T) {
	var fetches atomic.Int32
	f := FetcherFunc("reissued", func(context.Context) (Token, error) {
		if fetches.Add(1) <= 2 {
			return Token{Value: "reissued", Expiry: time.Now().Add(time.Hour)}, nil
		}
		return Token{Value: "fresh", Expiry: time.Now().Add(time.Hour)}, nil
	})
	m := &Manager{}
	warm(t, m, f)
	paused, resume := make(chan struct{}), make(chan struct{})
	var pausedOnce atomic.Bool
	m.testHookInstalling = func() {
		if pausedOnce.CompareAndSwap(false, true) {
			close(paused)
			<-resume
		}
	}
	m.state(f).current.Load().due.Store(true) // as the scheduler marks it inside the window
	if got := tokenOf(t, m, f); got != "reissued" {
		t.Fatalf("a due token: %q, want %q", got, "reissued")
	}
	<-paused // the background refresh has "reissued" again, and no rejection came while it fetched
	if !m.invalidate(context.Background(), f, "reissued") {
		t.Fatal("the cached token was not dropped")
	}
	close(resume)
	got := tokenOf(t, m, f)
	settle(m)
	if got != "fresh" || fetches.Load() != 3 {
		t.Errorf("after DingTalk rejected %q: %q after %d fetches, want %q from a third fetch", "reissued", got, fetches.Load(), "fresh")
	}
}

// TestRejectedTokenIsNotAdoptedAfterAnOlderOnesRejection: a rejected token
// that is still in the Store (its removal failed, or has not happened yet)
// is never adopted again, even when a caller then reports an older token
// of the key rejected too, as one sent before the rejected one replaced it.
func TestRejectedTokenIsNotAdoptedAfterAnOlderOnesRejection(t *testing.T) {
	seq, fetches := sequenceFetcher("older-rejection", time.Hour)
	f := sealed(seq)
	m := &Manager{Store: failingDeleteStore{NewMemoryStore()}}
	ctx := context.Background()
	first := tokenOf(t, m, f)
	if !m.invalidate(ctx, f, first) {
		t.Fatal("the cached token was not dropped")
	}
	m.invalidate(ctx, f, "tok-0") // older than first
	got := tokenOf(t, m, f)
	settle(m)
	if got == first || fetches.Load() != 2 {
		t.Errorf("after DingTalk rejected %q and then an older token: %q after %d fetches, want a new token from a second fetch", first, got, fetches.Load())
	}
}

// TestTypedNilFetcher: a nil pointer of one of this package's Fetchers (a
// Transport's Fetcher taken from a config that left it unset) is a nil
// Fetcher: an error, not a nil-pointer panic in the caller's request.
func TestTypedNilFetcher(t *testing.T) {
	srv := newSim(t)
	for _, f := range []Fetcher{
		(*AppCredentials)(nil),
		(*LegacyAppCredentials)(nil),
		(*CorpCredentials)(nil),
		(*SuiteCredentials)(nil),
		(*SSOCredentials)(nil),
		(*ClientCredentials)(nil),
		(*JSAPITicket)(nil),
	} {
		t.Run(fmt.Sprintf("%T", f), func(t *testing.T) {
			m := &Manager{}
			ctx := context.Background()
			if _, err := m.Token(ctx, f); !errors.Is(err, errNilFetcher) {
				t.Errorf("Token: %v, want %v", err, errNilFetcher)
			}
			if m.invalidate(ctx, f, "stale") {
				t.Error("invalidate asks for a retry")
			}
			if m.issuedToken(f, "stale") {
				t.Error("issuedToken claims a token")
			}
			client := &http.Client{Transport: &Transport{Fetcher: f, Manager: m, Base: srv.Transport()}}
			resp, err := client.Get("https://api.dingtalk.com/v1.0/contact/users/me")
			if err == nil {
				resp.Body.Close()
			}
			if !errors.Is(err, errNilFetcher) {
				t.Errorf("a request: %v, want %v", err, errNilFetcher)
			}
			if got := m.Stats().Keys; got != 0 {
				t.Errorf("Keys = %d, want 0", got)
			}
		})
	}
}
