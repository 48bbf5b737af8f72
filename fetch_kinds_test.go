package dingtoken

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/dingtoken/dingtoken/dingtalktest"
	"github.com/dingtoken/dingtoken/internal/memcachedtest"
)

const (
	testSuiteKey    = "suite-key-42"
	testSuiteSecret = "suite-secret-5ee1"
	testSSOCorp     = "ding-sso-corp"
	testSSOSecret   = "sso-secret-c4fe"
)

// newISVSim starts a simulator that knows the test app, the test suite and
// the test SSO corp.
func newISVSim(t testing.TB) *dingtalktest.Server {
	t.Helper()
	srv := newSim(t)
	srv.AddSuite(testSuiteKey, testSuiteSecret, "suite-ticket-first")
	srv.AddSSOCorp(testSSOCorp, testSSOSecret)
	return srv
}

// credentialKind builds one kind of fetcher against srv with the given
// secret (or suite ticket, for wantTicketCode).
type credentialKind struct {
	name     string
	build    func(srv *dingtalktest.Server, secret string) Fetcher
	id       string        // the simulator's Fetches id
	key      string        // the cache key
	lifetime time.Duration // how long the fetched token is believed to live
	wrongErr string        // the code DingTalk answers a wrong secret with
}

func ticketOf(srv *dingtalktest.Server) func(context.Context) (string, error) {
	return func(context.Context) (string, error) { return srv.SuiteTicket(testSuiteKey), nil }
}

var credentialKinds = []credentialKind{
	{name: "suite token", id: testSuiteKey, key: "suite:" + testSuiteKey, lifetime: 7200 * time.Second, wrongErr: "invalidClientIdOrSecret",
		build: func(srv *dingtalktest.Server, secret string) Fetcher {
			return &SuiteCredentials{SuiteKey: testSuiteKey, SuiteSecret: secret, SuiteTicket: ticketOf(srv), Endpoint: srv.URL}
		}},
	{name: "suite token, legacy", id: testSuiteKey, key: "suite:" + testSuiteKey, lifetime: 7200 * time.Second, wrongErr: "40088",
		build: func(srv *dingtalktest.Server, secret string) Fetcher {
			return &SuiteCredentials{SuiteKey: testSuiteKey, SuiteSecret: secret, SuiteTicket: ticketOf(srv), Endpoint: srv.URL, Legacy: true}
		}},
	{name: "SSO token", id: testSSOCorp, key: "sso:" + testSSOCorp, lifetime: 7200 * time.Second, wrongErr: "invalidClientIdOrSecret",
		build: func(srv *dingtalktest.Server, secret string) Fetcher {
			return &SSOCredentials{CorpID: testSSOCorp, SSOSecret: secret, Endpoint: srv.URL}
		}},
	{name: "SSO token, legacy", id: testSSOCorp, key: "sso:" + testSSOCorp, lifetime: 3600 * time.Second, wrongErr: "40089",
		build: func(srv *dingtalktest.Server, secret string) Fetcher {
			return &SSOCredentials{CorpID: testSSOCorp, SSOSecret: secret, Endpoint: srv.URL, Legacy: true}
		}},
	{name: "client credentials, internal app", id: testClientID, key: "client:" + testClientID + ":ding-own-corp", lifetime: 7200 * time.Second, wrongErr: "invalid.client",
		build: func(srv *dingtalktest.Server, secret string) Fetcher {
			if secret == "" {
				secret = testSecret
			}
			return &ClientCredentials{ClientID: testClientID, ClientSecret: secret, CorpID: "ding-own-corp", Endpoint: srv.URL}
		}},
	{name: "client credentials, suite in a corp", id: testSuiteKey, key: "client:" + testSuiteKey + ":ding-customer", lifetime: 7200 * time.Second, wrongErr: "invalid.client",
		build: func(srv *dingtalktest.Server, secret string) Fetcher {
			return &ClientCredentials{ClientID: testSuiteKey, ClientSecret: secret, CorpID: "ding-customer", Endpoint: srv.URL}
		}},
}

func (k credentialKind) secret() string {
	switch {
	case strings.HasPrefix(k.name, "SSO"):
		return testSSOSecret
	case k.id == testClientID:
		return testSecret
	}
	return testSuiteSecret
}

// TestCredentialKindsFetchUsableTokens: each kind fetches a token that lives
// as long as DingTalk says (or, for the legacy SSO token, which says
// nothing, 3600 s), that DingTalk accepts on an API call through a
// Transport, under its documented key.
func TestCredentialKindsFetchUsableTokens(t *testing.T) {
	for _, k := range credentialKinds {
		t.Run(k.name, func(t *testing.T) {
			t.Parallel()
			srv := newISVSim(t)
			f := k.build(srv, k.secret())
			if f.Key() != k.key {
				t.Errorf("Key() = %q, want %q", f.Key(), k.key)
			}
			if sf, ok := f.(SealingFetcher); !ok || sf.SealingSecret() != k.secret() {
				t.Errorf("not a SealingFetcher with the secret")
			}
			m := &Manager{}
			start := time.Now()
			tok, err := m.Token(context.Background(), f)
			if err != nil {
				t.Fatal(err)
			}
			if d := tok.Expiry.Sub(start); d < k.lifetime-time.Second || d > k.lifetime+time.Second {
				t.Errorf("lifetime %v, want %v", d, k.lifetime)
			}
			client := &http.Client{Transport: &Transport{Fetcher: f, Manager: m, Base: srv.Transport()}}
			for _, u := range []string{"https://api.dingtalk.com/v1.0/contact/users/me", "https://oapi.dingtalk.com/topapi/v2/user/get"} {
				status, body := getJSON(t, client, newRequest(t, "GET", u, nil))
				if status != 200 || (body["errcode"] != nil && body["errcode"] != float64(0)) {
					t.Errorf("%s: %d %v", u, status, body)
				}
			}
			if got := srv.Fetches(k.id); got != 1 {
				t.Errorf("token requests %d, want 1", got)
			}
		})
	}
}

// TestCredentialKindsRejectWrongSecrets: a wrong secret is an *APIError with
// DingTalk's code, matching ErrInvalidCredentials, asked once, and neither
// the secret nor the suite ticket shows in the error or the log.
func TestCredentialKindsRejectWrongSecrets(t *testing.T) {
	const wrong = "wrong-secret-0b5e55ed"
	for _, k := range credentialKinds {
		t.Run(k.name, func(t *testing.T) {
			t.Parallel()
			srv := newISVSim(t)
			logger, logs := newLogger()
			m := &Manager{Logger: logger}
			_, err := m.Token(context.Background(), k.build(srv, wrong))
			var ae *APIError
			if !errors.Is(err, ErrInvalidCredentials) || !errors.As(err, &ae) || ae.Code != k.wrongErr {
				t.Fatalf("err = %v, want ErrInvalidCredentials with code %s", err, k.wrongErr)
			}
			assertNoSecret(t, "error", err.Error(), wrong, srv.SuiteTicket(testSuiteKey))
			assertNoSecret(t, "log", logs.String(), wrong, srv.SuiteTicket(testSuiteKey))
			if got := srv.Fetches(k.id); got != 1 {
				t.Errorf("token requests %d, want 1 (not retried)", got)
			}
		})
	}
}

// TestSuiteTokenNeedsTheCurrentTicket: once DingTalk pushes a new ticket,
// the old one is refused, both generations, as invalid credentials.
func TestSuiteTokenNeedsTheCurrentTicket(t *testing.T) {
	for _, legacy := range []bool{false, true} {
		srv := newISVSim(t)
		old := srv.SuiteTicket(testSuiteKey)
		srv.PushSuiteTicket(testSuiteKey)
		c := &SuiteCredentials{SuiteKey: testSuiteKey, SuiteSecret: testSuiteSecret, Endpoint: srv.URL, Legacy: legacy,
			SuiteTicket: func(context.Context) (string, error) { return old, nil }}
		_, err := c.Fetch(context.Background())
		var ae *APIError
		if !errors.Is(err, ErrInvalidCredentials) || !errors.As(err, &ae) || (ae.Code != "invalidSuiteTicket" && ae.Code != "40085") {
			t.Errorf("legacy %v: err = %v, want an invalid suite ticket", legacy, err)
		}
		if err != nil {
			assertNoSecret(t, "error", err.Error(), old, testSuiteSecret)
		}
		c.SuiteTicket = nil
		if _, err := c.Fetch(context.Background()); err == nil || !strings.Contains(err.Error(), "SuiteTicket is nil") {
			t.Errorf("nil SuiteTicket: err = %v", err)
		}
	}
}

// TestEmptyCredentialFieldsSendNothing: a credentials struct with an ID or
// secret left empty (a setting missing from the environment) fails with
// ErrInvalidCredentials naming the field, without asking DingTalk or its
// SuiteTicket.
func TestEmptyCredentialFieldsSendNothing(t *testing.T) {
	srv := newISVSim(t)
	ticketAsked := false
	ticket := func(context.Context) (string, error) { ticketAsked = true; return "ticket", nil }
	for _, tc := range []struct {
		field string
		f     Fetcher
	}{
		{"AppCredentials.ClientID", &AppCredentials{ClientSecret: testSecret, Endpoint: srv.URL}},
		{"AppCredentials.ClientSecret", &AppCredentials{ClientID: testClientID, Endpoint: srv.URL}},
		{"LegacyAppCredentials.AppKey", &LegacyAppCredentials{AppSecret: testSecret, Endpoint: srv.URL}},
		{"LegacyAppCredentials.AppSecret", &LegacyAppCredentials{AppKey: testClientID, Endpoint: srv.URL}},
		{"CorpCredentials.SuiteKey", &CorpCredentials{SuiteSecret: testSuiteSecret, AuthCorpID: "c", SuiteTicket: ticket, Endpoint: srv.URL}},
		{"CorpCredentials.SuiteSecret", &CorpCredentials{SuiteKey: testSuiteKey, AuthCorpID: "c", SuiteTicket: ticket, Endpoint: srv.URL}},
		{"CorpCredentials.AuthCorpID", &CorpCredentials{SuiteKey: testSuiteKey, SuiteSecret: testSuiteSecret, SuiteTicket: ticket, Endpoint: srv.URL}},
		{"SuiteCredentials.SuiteKey", &SuiteCredentials{SuiteSecret: testSuiteSecret, SuiteTicket: ticket, Endpoint: srv.URL}},
		{"SuiteCredentials.SuiteSecret", &SuiteCredentials{SuiteKey: testSuiteKey, SuiteTicket: ticket, Endpoint: srv.URL, Legacy: true}},
		{"SSOCredentials.CorpID", &SSOCredentials{SSOSecret: testSecret, Endpoint: srv.URL}},
		{"SSOCredentials.SSOSecret", &SSOCredentials{CorpID: testSSOCorp, Endpoint: srv.URL, Legacy: true}},
		{"ClientCredentials.ClientID", &ClientCredentials{ClientSecret: testSecret, CorpID: "c", Endpoint: srv.URL}},
		{"ClientCredentials.ClientSecret", &ClientCredentials{ClientID: testClientID, CorpID: "c", Endpoint: srv.URL}},
		{"ClientCredentials.CorpID", &ClientCredentials{ClientID: testClientID, ClientSecret: testSecret, Endpoint: srv.URL}},
	} {
		_, err := tc.f.Fetch(context.Background())
		if !errors.Is(err, ErrInvalidCredentials) || !strings.HasPrefix(err.Error(), "dingtoken: ") || !strings.Contains(err.Error(), tc.field+" is empty") {
			t.Errorf("%s empty: err = %v, want ErrInvalidCredentials naming it", tc.field, err)
		}
	}
	if got := srv.TotalFetches(); got != 0 || ticketAsked {
		t.Errorf("%d token requests, suite ticket asked for: %v; want none", got, ticketAsked)
	}
}

// TestLegacySSOSecretNeverInErrors: the legacy SSO endpoint carries its
// secret in the URL, which transport errors quote.
func TestLegacySSOSecretNeverInErrors(t *testing.T) {
	const secret = "sso+secret/with=escapes"
	c := &SSOCredentials{CorpID: testSSOCorp, SSOSecret: secret, Legacy: true,
		Endpoint: "http://" + memcachedtest.ClosedAddr(t), HTTPClient: &http.Client{}}
	_, err := c.Fetch(context.Background())
	if err == nil {
		t.Fatal("fetch from a closed port succeeded")
	}
	for e := err; e != nil; e = errors.Unwrap(e) {
		assertNoSecret(t, "error chain", e.Error(), secret, "sso%2Bsecret%2Fwith%3Descapes")
	}
}
