package dingtoken

import (
	"context"
	"errors"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/dingtoken/dingtoken/dingtalktest"
	"github.com/dingtoken/dingtoken/internal/memcachedtest"
)

func TestFetchBothGenerationsShareOneAppToken(t *testing.T) {
	srv := newSim(t)
	ctx := context.Background()
	start := time.Now()
	tok, err := appCreds(srv).Fetch(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if tok.Value != srv.CurrentToken(testClientID) {
		t.Errorf("Fetch gave %v, the simulator issued another token", tok)
	}
	if d := tok.Expiry.Sub(start); d < 7199*time.Second || d > 7201*time.Second {
		t.Errorf("expiry is %v after the fetch started, want 7200s", d)
	}
	legacy := &LegacyAppCredentials{AppKey: testClientID, AppSecret: testSecret, Endpoint: srv.URL}
	ltok, err := legacy.Fetch(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if ltok.Value != tok.Value || legacy.Key() != appCreds(srv).Key() {
		t.Errorf("legacy and new endpoints should share the app token and key")
	}
}

func TestFetchCorpTokenIsNewEachTime(t *testing.T) {
	srv := newSim(t)
	const ticket = "suite-ticket-77aa"
	srv.AddSuite("suite-key", "suite-secret-9", ticket)
	c := &CorpCredentials{SuiteKey: "suite-key", SuiteSecret: "suite-secret-9", AuthCorpID: "ding-corp",
		SuiteTicket: func(context.Context) (string, error) { return ticket, nil }, Endpoint: srv.URL}
	if got, want := c.Key(), "corp:suite-key:ding-corp"; got != want {
		t.Errorf("Key() = %q, want %q", got, want)
	}
	a, err := c.Fetch(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	b, err := c.Fetch(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if a.Value == b.Value {
		t.Errorf("two corp fetches returned the same token")
	}

	c.SuiteTicket = func(context.Context) (string, error) { return "stale-ticket-31", nil }
	_, err = c.Fetch(context.Background())
	if !errors.Is(err, ErrInvalidCredentials) {
		t.Errorf("bad ticket: err = %v, want ErrInvalidCredentials", err)
	}
	assertNoSecret(t, "error", err.Error(), "stale-ticket-31", "suite-secret-9")

	c.SuiteTicket = func(context.Context) (string, error) { return "", errors.New("no ticket pushed yet") }
	if _, err = c.Fetch(context.Background()); err == nil || !strings.Contains(err.Error(), "no ticket pushed yet") {
		t.Errorf("ticket error: err = %v", err)
	}
}

// TestBadTokenAnswers feeds the token endpoint's bad answers through a
// Manager: each is a clear error, the endpoint is called once (none of these
// are retried), nothing is cached, and no error holds the secret.
func TestBadTokenAnswers(t *testing.T) {
	tests := []struct {
		name   string
		fault  *dingtalktest.Fault
		secret string // the secret the app uses; testSecret unless set
		legacy bool
		check  func(error) bool
	}{
		{name: "HTML page", fault: &dingtalktest.Fault{Status: 403, Body: dingtalktest.IPBanPage, ContentType: "text/html"},
			check: func(err error) bool {
				var ae *APIError
				return errors.As(err, &ae) && ae.StatusCode == 403 && strings.Contains(ae.Message, "HTML page")
			}},
		{name: "invalid JSON", fault: &dingtalktest.Fault{Body: dingtalktest.InvalidJSONBody},
			check: func(err error) bool { return errors.Is(err, ErrMalformedResponse) }},
		{name: "empty token", fault: &dingtalktest.Fault{Body: dingtalktest.EmptyTokenBody},
			check: func(err error) bool { return errors.Is(err, ErrMalformedResponse) }},
		{name: "10 MiB body", fault: &dingtalktest.Fault{Body: `{"accessToken":"` + strings.Repeat("a", 10<<20) + `"}`},
			check: func(err error) bool {
				return errors.Is(err, ErrMalformedResponse) && strings.Contains(err.Error(), "larger than")
			}},
		{name: "bad credentials, new API", secret: "wrong-secret-5512",
			check: func(err error) bool {
				var ae *APIError
				return errors.Is(err, ErrInvalidCredentials) && errors.As(err, &ae) && ae.Code == "invalidClientIdOrSecret"
			}},
		{name: "bad credentials, legacy", secret: "wrong-secret-5512", legacy: true,
			check: func(err error) bool {
				var ae *APIError
				return errors.Is(err, ErrInvalidCredentials) && errors.As(err, &ae) && ae.Code == "40089"
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv := newSim(t)
			if tt.fault != nil {
				srv.FailTokenRequests(1, *tt.fault)
			}
			secret := tt.secret
			if secret == "" {
				secret = testSecret
			}
			var f Fetcher = &AppCredentials{ClientID: testClientID, ClientSecret: secret, Endpoint: srv.URL}
			if tt.legacy {
				f = &LegacyAppCredentials{AppKey: testClientID, AppSecret: secret, Endpoint: srv.URL}
			}
			logger, logs := newLogger()
			m := &Manager{Logger: logger}
			_, err := m.Token(context.Background(), f)
			if err == nil || !tt.check(err) {
				t.Fatalf("err = %v", err)
			}
			if !strings.HasPrefix(err.Error(), "dingtoken: ") {
				t.Errorf("error %q lacks the package prefix", err)
			}
			assertNoSecret(t, "error", err.Error(), secret)
			assertNoSecret(t, "log", logs.String(), secret)
			if got := srv.Fetches(testClientID); got != 1 {
				t.Errorf("token endpoint called %d times, want 1 (no retry)", got)
			}
			if e := m.state(f).current.Load(); e != nil {
				t.Errorf("a failed fetch left %v in the cache", e.token)
			}
		})
	}
}

func TestImplausibleLifetimeIsClamped(t *testing.T) {
	for _, expireIn := range []string{"0", "-5", "1000000000000", `"soon"`, "null"} {
		t.Run(expireIn, func(t *testing.T) {
			srv := newSim(t)
			srv.FailTokenRequests(1, dingtalktest.Fault{Body: `{"accessToken":"tok-odd-life","expireIn":` + expireIn + `}`})
			logger, logs := newLogger()
			c := appCreds(srv)
			c.Logger = logger
			start := time.Now()
			tok, err := c.Fetch(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			if d := tok.Expiry.Sub(start); d < DefaultTokenLifetime-time.Second || d > DefaultTokenLifetime+time.Second {
				t.Errorf("lifetime %v, want the default %v", d, DefaultTokenLifetime)
			}
			if !strings.Contains(logs.String(), "implausible lifetime") {
				t.Errorf("clamping was not logged: %q", logs)
			}
			assertNoSecret(t, "log", logs.String(), "tok-odd-life", testSecret)
		})
	}
}

func TestTokenEndpointRetries(t *testing.T) {
	tests := []struct {
		name        string
		faults      []dingtalktest.Fault
		wantErr     bool
		wantFetches int
	}{
		{"500 twice then OK", []dingtalktest.Fault{{Status: 500}, {Status: 500}}, false, 3},
		{"429 with Retry-After", []dingtalktest.Fault{{Status: 429, Header: http.Header{"Retry-After": {"1"}}}}, false, 2},
		{"errcode -1 busy", []dingtalktest.Fault{{Body: dingtalktest.BusyBody}}, false, 2},
		{"503 four times gives up", []dingtalktest.Fault{{Status: 503}, {Status: 503}, {Status: 503}, {Status: 503}}, true, 4},
		{"400 is not retried", []dingtalktest.Fault{{Status: 400}}, true, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv := newSim(t)
			for _, f := range tt.faults {
				srv.FailTokenRequests(1, f)
			}
			_, err := appCreds(srv).Fetch(context.Background())
			if (err != nil) != tt.wantErr {
				t.Errorf("err = %v, want error: %v", err, tt.wantErr)
			}
			var ae *APIError
			if tt.wantErr && !errors.As(err, &ae) {
				t.Errorf("err = %v, want an *APIError", err)
			}
			if got := srv.Fetches(testClientID); got != tt.wantFetches {
				t.Errorf("token endpoint called %d times, want %d", got, tt.wantFetches)
			}
		})
	}
}

// TestLegacySecretNeverInErrors: the legacy endpoint carries the secret in
// its URL, which net/http quotes in every transport error.
func TestLegacySecretNeverInErrors(t *testing.T) {
	closed := "http://" + memcachedtest.ClosedAddr(t)
	for name, client := range map[string]*http.Client{"plain client": {}, "retrying client": nil} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			c := &LegacyAppCredentials{AppKey: testClientID, AppSecret: testSecret, Endpoint: closed, HTTPClient: client}
			_, err := c.Fetch(context.Background())
			if err == nil {
				t.Fatal("fetch from a closed port succeeded")
			}
			for e := err; e != nil; e = errors.Unwrap(e) {
				assertNoSecret(t, "error chain", e.Error(), testSecret)
			}
			if !strings.Contains(err.Error(), "REDACTED") {
				t.Errorf("err = %v, want the URL with the secret REDACTED", err)
			}
			var ne net.Error
			if !errors.As(err, &ne) {
				t.Errorf("errors.As(net.Error) failed on %v", err)
			}
		})
	}
}

func TestFetchHonoursContext(t *testing.T) {
	srv := newSim(t)
	srv.SetTokenDelay(time.Minute)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	_, err := appCreds(srv).Fetch(ctx)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("err = %v, want context.DeadlineExceeded", err)
	}
}
