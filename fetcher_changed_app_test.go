package dingtoken

import (
	"testing"

	"github.com/dingtoken/dingtoken/dingtalktest"
)

// keyedApp is a Fetcher of another package: an app's credentials under a
// key it gives them (its own Key never changes).
type keyedApp struct{ *AppCredentials }

func (a keyedApp) Key() string { return "mine:" + a.ClientID }

// TestJSAPITicketWithAnotherAppGetsItsTicket: a JSAPITicket whose App is
// replaced by another Fetcher (of this package or not, of any shape) has
// the new App's key, and gets the new App's ticket, never the old one's:
// a page signed with it would sign for another app.
func TestJSAPITicketWithAnotherAppGetsItsTicket(t *testing.T) {
	other := func(srv *dingtalktest.Server) *AppCredentials {
		return &AppCredentials{ClientID: "ding-other", ClientSecret: "other-secret", Endpoint: srv.URL}
	}
	for _, tt := range []struct {
		name      string
		from, to  func(srv *dingtalktest.Server) Fetcher
		wantOwner string // whose ticket the new App's is
	}{
		{"FetcherFunc to FetcherFunc",
			func(srv *dingtalktest.Server) Fetcher { return FetcherFunc("app:"+testClientID, appCreds(srv).Fetch) },
			func(srv *dingtalktest.Server) Fetcher { return FetcherFunc("app:ding-other", other(srv).Fetch) },
			"ding-other"},
		{"another package's Fetcher to another of the same type",
			func(srv *dingtalktest.Server) Fetcher { return keyedApp{appCreds(srv)} },
			func(srv *dingtalktest.Server) Fetcher { return keyedApp{other(srv)} },
			"ding-other"},
		{"a Fetcher of this package to one of another package",
			func(srv *dingtalktest.Server) Fetcher { return FetcherFunc("app:"+testClientID, appCreds(srv).Fetch) },
			func(srv *dingtalktest.Server) Fetcher { return keyedApp{other(srv)} },
			"ding-other"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			srv := newSim(t)
			srv.AddApp("ding-other", "other-secret")
			m := &Manager{}
			jt := &JSAPITicket{App: tt.from(srv), Manager: m, Endpoint: srv.URL}
			oldKey := jt.Key()
			old := warm(t, m, jt)

			jt.App = tt.to(srv)
			got := tokenOf(t, m, jt)
			if got == old {
				t.Fatalf("after %s became %s: the old key's ticket", oldKey, jt.Key())
			}
			if want := srv.JSAPITicket(tt.wantOwner); got != want {
				t.Errorf("got %q, want the new App's %q", got, want)
			}
			if again := tokenOf(t, m, jt); again != got {
				t.Errorf("the next call got %q, want the cached %q", again, got)
			}
			settle(m)
		})
	}
}
