package dingtoken

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/bradfitz/gomemcache/memcache"
	"github.com/dingtoken/dingtoken/dingtalktest"
	"github.com/dingtoken/dingtoken/internal/memcachedtest"
)

// TestNewCredentialsNeverLeak runs every credential kind beyond the app and
// corp tokens, and the suite tickets, through Managers that share memcached,
// with one capturing logger, across good fetches, wrong secrets, stale
// tickets, server errors and answers that are not credentials. No secret,
// suite ticket, token or jsapi ticket appears in any log line or error, and
// none is in memcached as it is.
func TestNewCredentialsNeverLeak(t *testing.T) {
	const wrong = "wrong-secret-7a11e9"
	ctx := context.Background()
	logger, logs := newLogger()
	srv := newISVSim(t)
	mc := memcachedtest.Start(t)
	store := NewMemcacheStore(patientMemcache(mc.Addr))
	tickets := &SuiteTickets{SuiteKey: testSuiteKey, SuiteSecret: testSuiteSecret, Store: store, Logger: logger}
	var pushed []string
	push := func() {
		ticket, at := srv.PushSuiteTicket(testSuiteKey)
		pushed = append(pushed, ticket)
		if err := tickets.Put(ctx, ticket, at); err != nil {
			t.Fatal(err)
		}
	}
	push()

	var errs []error
	var keys []string
	use := func(f Fetcher) {
		keys = append(keys, f.Key())
		m := &Manager{Store: store, Logger: logger}
		_, err := m.Token(ctx, f)
		if err != nil {
			errs = append(errs, err)
		}
	}
	good := func() []Fetcher {
		corp := &CorpCredentials{SuiteKey: testSuiteKey, SuiteSecret: testSuiteSecret, AuthCorpID: "ding-customer", SuiteTicket: tickets.Ticket, Endpoint: srv.URL, Logger: logger}
		return []Fetcher{
			&SuiteCredentials{SuiteKey: testSuiteKey, SuiteSecret: testSuiteSecret, SuiteTicket: tickets.Ticket, Endpoint: srv.URL, Logger: logger},
			&SuiteCredentials{SuiteKey: testSuiteKey, SuiteSecret: testSuiteSecret, SuiteTicket: tickets.Ticket, Endpoint: srv.URL, Logger: logger, Legacy: true},
			&SSOCredentials{CorpID: testSSOCorp, SSOSecret: testSSOSecret, Endpoint: srv.URL, Logger: logger},
			&SSOCredentials{CorpID: testSSOCorp + "-legacy", SSOSecret: testSSOSecret, Endpoint: srv.URL, Logger: logger, Legacy: true},
			&ClientCredentials{ClientID: testClientID, ClientSecret: testSecret, CorpID: "ding-own", Endpoint: srv.URL, Logger: logger},
			&JSAPITicket{App: corp, Manager: &Manager{Store: store, Logger: logger}, Endpoint: srv.URL, Logger: logger},
			&JSAPITicket{App: appCreds(srv), Manager: &Manager{Store: store, Logger: logger}, Endpoint: srv.URL, Logger: logger, Legacy: true},
		}
	}
	srv.AddSSOCorp(testSSOCorp+"-legacy", testSSOSecret)
	for _, f := range good() {
		use(f)
	}
	for _, f := range []Fetcher{
		&SuiteCredentials{SuiteKey: testSuiteKey, SuiteSecret: wrong, SuiteTicket: tickets.Ticket, Endpoint: srv.URL, Logger: logger, Legacy: true},
		&SSOCredentials{CorpID: testSSOCorp, SSOSecret: wrong, Endpoint: srv.URL, Logger: logger, Legacy: true},
		&ClientCredentials{ClientID: testClientID, ClientSecret: wrong, CorpID: "ding-own", Endpoint: srv.URL, Logger: logger},
	} {
		use(f)
	}
	stale := &SuiteCredentials{SuiteKey: testSuiteKey, SuiteSecret: testSuiteSecret, Endpoint: srv.URL, Logger: logger,
		SuiteTicket: func(context.Context) (string, error) { return pushed[0] + "-stale", nil }}
	if _, err := stale.Fetch(ctx); err != nil {
		errs = append(errs, err)
	}
	// A new push; then server errors and answers that are not credentials.
	push()
	for _, fault := range []dingtalktest.Fault{
		{Status: 400},
		{Body: `{"errcode":0,"suite_access_token":"tok with space ` + testSuiteSecret + `","expires_in":7200}`},
		{Body: `{"accessToken":"` + strings.Repeat("x", 100) + "\x01" + `","expireIn":7200}`},
	} {
		srv.FailTokenRequests(1, fault)
	}
	for _, f := range []Fetcher{good()[0], good()[1], good()[0]} {
		if _, err := f.Fetch(ctx); err != nil {
			errs = append(errs, err)
		}
	}
	if len(errs) != 7 {
		t.Fatalf("%d errors collected, want 7: %v", len(errs), errs)
	}

	secrets := append([]string{wrong, testSecret, testSuiteSecret, testSSOSecret}, pushed...)
	secrets = append(secrets, srv.Tokens()...)
	for _, owner := range []string{testClientID, dingtalktest.CorpOwner(testSuiteKey, "ding-customer")} {
		secrets = append(secrets, srv.JSAPITicket(owner))
	}
	for _, err := range errs {
		for e := err; e != nil; e = errors.Unwrap(e) {
			assertNoSecret(t, "error", e.Error(), secrets...)
		}
		if !strings.HasPrefix(err.Error(), "dingtoken: ") {
			t.Errorf("error %q lacks the package prefix", err)
		}
	}
	assertNoSecret(t, "log", logs.String(), secrets...)

	client := patientMemcache(mc.Addr)
	for _, k := range append(keys, "suite-ticket:"+testSuiteKey, "jsapi-seen:"+good()[5].(*JSAPITicket).App.Key()) {
		item, err := client.Get(memcacheKey(k))
		if errors.Is(err, memcache.ErrCacheMiss) {
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		assertNoSecret(t, "memcached value of "+k, string(item.Value), secrets...)
	}
	if _, err := client.Get(memcacheKey("suite-ticket:" + testSuiteKey)); err != nil {
		t.Errorf("the suite ticket is not in memcached: %v", err)
	}
}
