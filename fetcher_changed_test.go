package dingtoken

import (
	"testing"

	"github.com/dingtoken/dingtoken/dingtalktest"
)

// Fetchers of this package keep their key's token in themselves (their
// slot). A program that reuses one for another app or corp, setting its
// fields between calls (a job that walks an ISV's corps), must get the new
// key's token, never the old one: that would act on another company.

// TestChangedCredentialsGetTheirNewKeysToken: for every credential kind,
// the token after the key's fields were set is the one the Manager holds
// under the new key, not the old key's.
func TestChangedCredentialsGetTheirNewKeysToken(t *testing.T) {
	for _, tt := range []struct {
		name   string
		build  func(srv *dingtalktest.Server) Fetcher
		change func(f Fetcher)
		// want is the new key's token as DingTalk has it, or "" where it
		// re-issues none to compare with.
		want func(srv *dingtalktest.Server) string
	}{
		{"AppCredentials",
			func(srv *dingtalktest.Server) Fetcher { return appCreds(srv) },
			func(f Fetcher) {
				c := f.(*AppCredentials)
				c.ClientID, c.ClientSecret = "ding-other", "other-secret"
			},
			func(srv *dingtalktest.Server) string { return srv.CurrentToken("ding-other") }},
		{"LegacyAppCredentials",
			func(srv *dingtalktest.Server) Fetcher {
				return &LegacyAppCredentials{AppKey: testClientID, AppSecret: testSecret, Endpoint: srv.URL}
			},
			func(f Fetcher) {
				c := f.(*LegacyAppCredentials)
				c.AppKey, c.AppSecret = "ding-other", "other-secret"
			},
			func(srv *dingtalktest.Server) string { return srv.CurrentToken("ding-other") }},
		{"CorpCredentials",
			func(srv *dingtalktest.Server) Fetcher {
				return &CorpCredentials{SuiteKey: testSuiteKey, SuiteSecret: testSuiteSecret, AuthCorpID: "ding-corp-a",
					SuiteTicket: ticketOf(srv), Endpoint: srv.URL}
			},
			func(f Fetcher) { f.(*CorpCredentials).AuthCorpID = "ding-corp-b" },
			nil},
		{"ClientCredentials",
			func(srv *dingtalktest.Server) Fetcher {
				return &ClientCredentials{ClientID: testSuiteKey, ClientSecret: testSuiteSecret, CorpID: "ding-corp-a", Endpoint: srv.URL}
			},
			func(f Fetcher) { f.(*ClientCredentials).CorpID = "ding-corp-b" },
			nil},
		{"SuiteCredentials",
			func(srv *dingtalktest.Server) Fetcher {
				return &SuiteCredentials{SuiteKey: testSuiteKey, SuiteSecret: testSuiteSecret, SuiteTicket: ticketOf(srv), Endpoint: srv.URL}
			},
			func(f Fetcher) { f.(*SuiteCredentials).SuiteKey = "suite-other" },
			nil},
		{"SSOCredentials",
			func(srv *dingtalktest.Server) Fetcher {
				return &SSOCredentials{CorpID: testSSOCorp, SSOSecret: testSSOSecret, Endpoint: srv.URL}
			},
			func(f Fetcher) { f.(*SSOCredentials).CorpID = "ding-sso-other" },
			nil},
		{"JSAPITicket over CorpCredentials",
			func(srv *dingtalktest.Server) Fetcher {
				corp := &CorpCredentials{SuiteKey: testSuiteKey, SuiteSecret: testSuiteSecret, AuthCorpID: "ding-corp-a",
					SuiteTicket: ticketOf(srv), Endpoint: srv.URL}
				return &JSAPITicket{App: corp, Endpoint: srv.URL}
			},
			func(f Fetcher) { f.(*JSAPITicket).App.(*CorpCredentials).AuthCorpID = "ding-corp-b" },
			func(srv *dingtalktest.Server) string {
				return srv.JSAPITicket(dingtalktest.CorpOwner(testSuiteKey, "ding-corp-b"))
			}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			srv := newISVSim(t)
			srv.AddApp("ding-other", "other-secret")
			srv.AddSuite("suite-other", testSuiteSecret, srv.SuiteTicket(testSuiteKey))
			srv.AddSSOCorp("ding-sso-other", testSSOSecret)
			m := &Manager{}
			f := tt.build(srv)
			if jt, ok := f.(*JSAPITicket); ok {
				jt.Manager = m
			}
			oldKey := f.Key()
			old := warm(t, m, f)

			tt.change(f)
			got := tokenOf(t, m, f)
			if got == old {
				t.Fatalf("after %s became %s: the old key's token", oldKey, f.Key())
			}
			if e := m.stateByKey(f.Key()).current.Load(); e == nil || e.token.Value != got {
				t.Errorf("got %q; the Manager holds %v under %s", got, e, f.Key())
			}
			if tt.want != nil {
				if want := tt.want(srv); got != want {
					t.Errorf("got %q, want the new key's %q", got, want)
				}
			}
			if again := tokenOf(t, m, f); again != got {
				t.Errorf("the next call got %q, want the cached %q", again, got)
			}
			settle(m)
		})
	}
}

// tenantCorp is a Fetcher of another package that embeds one of ours
// and gives it a key of its own.
type tenantCorp struct {
	*CorpCredentials
	tenant string
}

func (c tenantCorp) Key() string { return c.tenant + "/" + c.CorpCredentials.Key() }

// TestEmbeddingFetchersKeepTheirOwnKeys: two Fetchers of another package
// that embed one CorpCredentials and key it each their own way get each
// their own token, not the first one's through the embedded slot.
func TestEmbeddingFetchersKeepTheirOwnKeys(t *testing.T) {
	srv := newISVSim(t)
	corp := &CorpCredentials{SuiteKey: testSuiteKey, SuiteSecret: testSuiteSecret, AuthCorpID: "ding-corp-a",
		SuiteTicket: ticketOf(srv), Endpoint: srv.URL}
	m := &Manager{}
	a, b := tenantCorp{corp, "staging"}, tenantCorp{corp, "production"}
	ta, tb := tokenOf(t, m, a), tokenOf(t, m, b)
	if again := tokenOf(t, m, a); again != ta {
		t.Errorf("the first Fetcher's next call got %q, want its cached %q", again, ta)
	}
	settle(m)
	if ta == tb || srv.Fetches(testSuiteKey) != 2 || m.Stats().Keys != 2 {
		t.Errorf("tokens %q and %q from %d fetches, %d keys; want a token of each key", ta, tb, srv.Fetches(testSuiteKey), m.Stats().Keys)
	}
}
