package dingtoken

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/bradfitz/gomemcache/memcache"
	"github.com/dingtoken/dingtoken/dingtalktest"
	"github.com/dingtoken/dingtoken/internal/memcachedtest"
)

// TestNoSecretInAnyLogOrError runs the faults of the Reliability table with
// one capturing logger on every Manager and fetcher, collects every error
// (and everything it wraps), and checks that no app secret, suite secret,
// suite ticket or issued token appears in any of it.
func TestNoSecretInAnyLogOrError(t *testing.T) {
	const (
		suiteSecret = "suite-secret-c0ffee"
		ticket      = "suite-ticket-facade"
		wrongSecret = "wrong-secret-deadbeef"
	)
	logger, logs := newLogger()
	srv := newSim(t)
	srv.AddSuite("suite", suiteSecret, ticket)
	mc := memcachedtest.Start(t)
	ctx := context.Background()
	var errs []error
	collect := func(err error) {
		if err != nil {
			errs = append(errs, err)
		}
	}
	app := func(secret string) *AppCredentials {
		return &AppCredentials{ClientID: testClientID, ClientSecret: secret, Endpoint: srv.URL, Logger: logger}
	}
	legacy := func(secret, endpoint string) *LegacyAppCredentials {
		return &LegacyAppCredentials{AppKey: testClientID, AppSecret: secret, Endpoint: endpoint, Logger: logger}
	}
	corp := func(tk string) *CorpCredentials {
		return &CorpCredentials{SuiteKey: "suite", SuiteSecret: suiteSecret, AuthCorpID: "corp", Endpoint: srv.URL, Logger: logger,
			SuiteTicket: func(context.Context) (string, error) { return tk, nil }}
	}
	token := func(m *Manager, f Fetcher) Token {
		m.Logger = logger
		tok, err := m.Token(ctx, f)
		collect(err)
		return tok
	}
	closed := "http://" + memcachedtest.ClosedAddr(t)

	// Wrong credentials, all three endpoints; a network failure with the
	// secret in the URL; answers that are not tokens.
	token(&Manager{}, app(wrongSecret))
	token(&Manager{}, legacy(wrongSecret, srv.URL))
	token(&Manager{}, corp("stale-"+ticket))
	token(&Manager{}, legacy(testSecret, closed))
	for _, f := range []dingtalktest.Fault{
		{Status: 503}, {Status: 403, Body: dingtalktest.IPBanPage, ContentType: "text/html"},
		{Body: dingtalktest.InvalidJSONBody}, {Body: dingtalktest.EmptyTokenBody},
		{Body: `{"accessToken":"x","expireIn":0}`}, {Body: dingtalktest.BusyBody},
	} {
		srv.FailTokenRequests(4, f)
		token(&Manager{}, app(testSecret))
		srv.ClearFaults()
	}
	// A panicking fetcher.
	token(&Manager{}, FetcherFunc("panics", func(context.Context) (Token, error) { panic("fetcher bug") }))

	// The shared store: memcached down, babbling, and a tampered value.
	token(&Manager{Store: NewMemcacheStore(memcache.New(memcachedtest.ClosedAddr(t)))}, app(testSecret))
	token(&Manager{Store: NewMemcacheStore(memcache.New(babbler(t).addr()))}, app(testSecret))
	store := NewMemcacheStore(memcache.New(mc.Addr))
	tok := token(&Manager{Store: store}, corp(ticket))
	store.Save(ctx, corp(ticket).Key(), Token{Value: sealedPrefix + "AAAA" + tok.Value, Expiry: time.Now().Add(time.Hour)})
	token(&Manager{Store: store}, corp(ticket))

	// Requests: a rejection and its recovery, a rejection that persists, a
	// base transport that quotes the URL, and a token printed into a log.
	m := &Manager{Logger: logger}
	client := newTestClient(srv, m)
	for _, reject := range []bool{false, true} {
		srv.RevokeAll()
		srv.RejectTokens(reject)
		resp, err := client.Get("https://oapi.dingtalk.com/topapi/v2/user/get")
		collect(err)
		if err == nil {
			resp.Body.Close()
		}
	}
	srv.RejectTokens(false)
	quoting := &http.Client{Transport: &Transport{Fetcher: app(testSecret), Manager: m, Base: roundTripFunc(func(r *http.Request) (*http.Response, error) {
		return nil, &url.Error{Op: "Get", URL: r.URL.String(), Err: errors.New("refused at " + r.URL.String())}
	})}}
	_, err := quoting.Get("https://oapi.dingtalk.com/topapi/v2/user/get")
	collect(err)
	logger.Info("the token", "token", token(m, app(testSecret)))

	if len(errs) < 11 {
		t.Fatalf("only %d errors collected; the scenarios did not run", len(errs))
	}
	secrets := append([]string{testSecret, wrongSecret, suiteSecret, ticket, "stale-" + ticket}, srv.Tokens()...)
	for _, err := range errs {
		for e := err; e != nil; e = errors.Unwrap(e) {
			assertNoSecret(t, "error", e.Error(), secrets...)
		}
		assertNoSecret(t, "error", fmt.Sprintf("%+v %#v", err, err), secrets...)
	}
	assertNoSecret(t, "log", logs.String(), secrets...)
	for _, want := range []string{"panicked", "implausible lifetime", "store load failed", "rejected the token"} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("the log lacks %q; a scenario did not run", want)
		}
	}
}
