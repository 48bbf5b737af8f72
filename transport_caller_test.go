package dingtoken

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/dingtoken/dingtoken/dingtalktest"
	"github.com/dingtoken/dingtoken/internal/wiretest"
)

// otherAppToken fetches a token for a second app the simulator knows: a
// valid token that is not the Transport's.
func otherAppToken(t *testing.T, srv *dingtalktest.Server) string {
	t.Helper()
	srv.AddApp("ding-other-app", "other-secret-4d1f")
	tok, err := (&Manager{}).Token(context.Background(),
		&AppCredentials{ClientID: "ding-other-app", ClientSecret: "other-secret-4d1f", Endpoint: srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	return tok.Value
}

// TestCallerTokenRule: a token the caller already put on a request, in a
// header of any capitalisation or in the query, is replaced by the current
// token when this Manager issued it (or it is the placeholder), and sent
// untouched otherwise; never two tokens on the wire.
func TestCallerTokenRule(t *testing.T) {
	const (
		newAPI = "https://api.dingtalk.com/v1.0/contact/users/me"
		legacy = "https://oapi.dingtalk.com/topapi/v2/user/get"
	)
	type setup struct {
		current, other string
	}
	tests := []struct {
		name    string
		url     string
		header  map[string]string                              // header key (as written) -> value
		query   func(s setup) string                           // appended to url
		value   func(s setup) string                           // the header value, from the setup
		want    func(s setup) string                           // the one token on the wire
		replace bool                                           // whether the Transport uses its own token
		check   func(t *testing.T, got wiretest.Sent, s setup) // extra checks
	}{
		{name: "none, new API", url: newAPI, want: func(s setup) string { return s.current }, replace: true},
		{name: "none, legacy", url: legacy, want: func(s setup) string { return s.current }, replace: true},
		{name: "ours, canonical header", url: newAPI, header: map[string]string{"X-Acs-Dingtalk-Access-Token": ""},
			value: func(s setup) string { return s.current }, want: func(s setup) string { return s.current }, replace: true},
		{name: "ours, the SDK's lower-case header", url: newAPI, header: map[string]string{"x-acs-dingtalk-access-token": ""},
			value: func(s setup) string { return s.current }, want: func(s setup) string { return s.current }, replace: true},
		{name: "ours, mixed-case header", url: newAPI, header: map[string]string{"X-ACS-DingTalk-Access-Token": ""},
			value: func(s setup) string { return s.current }, want: func(s setup) string { return s.current }, replace: true},
		{name: "ours, in both header spellings", url: newAPI,
			header: map[string]string{"x-acs-dingtalk-access-token": "", "X-Acs-Dingtalk-Access-Token": ""},
			value:  func(s setup) string { return s.current }, want: func(s setup) string { return s.current }, replace: true},
		{name: "ours, query of a legacy path", url: legacy, query: func(s setup) string { return "access_token=" + s.current + "&lang=zh" },
			want: func(s setup) string { return s.current }, replace: true},
		{name: "ours, query and header of a new-API path", url: newAPI, query: func(s setup) string { return "access_token=" + s.current },
			header: map[string]string{"x-acs-dingtalk-access-token": ""},
			value:  func(s setup) string { return s.current }, want: func(s setup) string { return s.current }, replace: true},
		{name: "placeholder, header", url: newAPI, header: map[string]string{"x-acs-dingtalk-access-token": ""},
			value: func(setup) string { return TokenPlaceholder }, want: func(s setup) string { return s.current }, replace: true},
		{name: "placeholder, query", url: legacy, query: func(setup) string { return "access_token=" + TokenPlaceholder },
			want: func(s setup) string { return s.current }, replace: true},
		{name: "empty header", url: newAPI, header: map[string]string{"x-acs-dingtalk-access-token": ""},
			value: func(setup) string { return "" }, want: func(s setup) string { return s.current }, replace: true},
		{name: "another app's token, header", url: newAPI, header: map[string]string{"x-acs-dingtalk-access-token": ""},
			value: func(s setup) string { return s.other }, want: func(s setup) string { return s.other }},
		{name: "another app's token, query", url: legacy, query: func(s setup) string { return "access_token=" + s.other },
			want: func(s setup) string { return s.other }},
		{name: "another app's token beside ours", url: newAPI, query: func(s setup) string { return "access_token=" + s.current },
			header: map[string]string{"X-Acs-Dingtalk-Access-Token": ""}, value: func(s setup) string { return s.other },
			check: func(t *testing.T, got wiretest.Sent, s setup) {
				if len(got.Headers) != 1 || got.Headers[0] != s.other || len(got.Params) != 1 || got.Params[0] != s.current {
					t.Errorf("sent %+v, want the request untouched", got)
				}
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := newSim(t)
			w := &wiretest.Recorder{Next: srv.Transport()}
			m := &Manager{}
			c := &http.Client{Transport: &Transport{Fetcher: appCreds(srv), Manager: m, Base: w}}
			cur, err := m.Token(context.Background(), appCreds(srv))
			if err != nil {
				t.Fatal(err)
			}
			s := setup{current: cur.Value, other: otherAppToken(t, srv)}
			u := tt.url
			if tt.query != nil {
				u += "?" + tt.query(s)
			}
			req := newRequest(t, "GET", u, nil)
			for k := range tt.header {
				req.Header[k] = []string{tt.value(s)}
			}
			wantHeader := req.Header.Clone()
			wantURL := req.URL.String()

			resp, err := c.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			raw, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 200 || parseAPIError(resp.StatusCode, raw) != nil {
				t.Errorf("answer %d %s, want success", resp.StatusCode, raw)
			}
			sent := w.Requests()
			if len(sent) != 1 {
				t.Fatalf("%d requests sent, want 1", len(sent))
			}
			if tt.check != nil {
				tt.check(t, sent[0], s)
			} else if got, one := sent[0].Only(strings.Contains(tt.url, "/v1.0/")); !one || got != tt.want(s) {
				t.Errorf("sent %+v, want exactly one token, %s", sent[0], map[bool]string{true: "the current one", false: "the caller's"}[tt.replace])
			}
			if req.URL.String() != wantURL || !equalHeaders(req.Header, wantHeader) {
				t.Errorf("the caller's request was modified: %s %v", req.URL, req.Header)
			}
			if st := m.Stats(); st.Invalidations != 0 || st.Retries != 0 {
				t.Errorf("stats %+v, want no invalidation or retry", st)
			}
		})
	}
}

func equalHeaders(a, b http.Header) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if strings.Join(v, "\x00") != strings.Join(b[k], "\x00") {
			return false
		}
	}
	return true
}

// TestCallerTokenOfOursIsRecovered: a client that keeps its own copy of the
// token (in the SDK's lower-case header, or in the query) meets a revoked
// token; the Transport recovers as for a token it injected, and the client's
// stale copy keeps working afterwards.
func TestCallerTokenOfOursIsRecovered(t *testing.T) {
	for _, tt := range []struct{ name, url, header string }{
		{"header", "https://api.dingtalk.com/v1.0/contact/users/me", "x-acs-dingtalk-access-token"},
		{"query", "https://oapi.dingtalk.com/topapi/v2/user/get", ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			srv := newSim(t)
			w := &wiretest.Recorder{Next: srv.Transport()}
			m := &Manager{}
			c := &http.Client{Transport: &Transport{Fetcher: appCreds(srv), Manager: m, Base: w}}
			held, err := m.Token(context.Background(), appCreds(srv))
			if err != nil {
				t.Fatal(err)
			}
			srv.RevokeAll()
			for i := range 2 { // the second time, the client's copy is a token the Manager dropped
				req := newRequest(t, "GET", tt.url, nil)
				if tt.header != "" {
					req.Header[tt.header] = []string{held.Value}
				} else {
					req.URL.RawQuery = "access_token=" + held.Value
				}
				status, out := getJSON(t, c, req)
				if status != 200 || out["errcode"] != nil && out["errcode"] != float64(0) || out["code"] != nil {
					t.Fatalf("request %d: %d %v, want success", i+1, status, out)
				}
			}
			fresh := srv.CurrentToken(testClientID)
			newAPI := tt.header != ""
			var got []string
			for _, s := range w.Requests() {
				v, one := s.Only(newAPI)
				if !one {
					t.Errorf("sent %+v, want exactly one token", s)
				}
				got = append(got, v)
			}
			if want := []string{held.Value, fresh, fresh}; strings.Join(got, ",") != strings.Join(want, ",") {
				t.Errorf("tokens sent %v, want the held one, then the fresh one twice", got)
			}
			if n := srv.Fetches(testClientID); n != 2 {
				t.Errorf("token fetches %d, want 2", n)
			}
		})
	}
}

// TestForeignTokenIsNotRecovered: a token the Manager never issued (a user
// token, another app's) is the caller's business: rejected, it comes back as
// DingTalk's answer, sent once, and our token is not dropped.
func TestForeignTokenIsNotRecovered(t *testing.T) {
	srv := newSim(t)
	w := &wiretest.Recorder{Next: srv.Transport()}
	m := &Manager{}
	c := &http.Client{Transport: &Transport{Fetcher: appCreds(srv), Manager: m, Base: w}}
	other := otherAppToken(t, srv)
	srv.Revoke(other)
	for _, tok := range []string{other, "user-access-token-5e2a"} {
		req := newRequest(t, "GET", "https://api.dingtalk.com/v1.0/contact/users/me", nil)
		req.Header["x-acs-dingtalk-access-token"] = []string{tok}
		status, out := getJSON(t, c, req)
		if status != 400 || out["code"] != "InvalidAuthentication" {
			t.Errorf("%d %v, want DingTalk's rejection", status, out)
		}
	}
	if calls, _ := srv.APICalls(); calls != 2 {
		t.Errorf("API calls %d, want 2: each request sent once", calls)
	}
	if st := m.Stats(); st.Invalidations != 0 || st.Retries != 0 {
		t.Errorf("stats %+v, want no invalidation or retry", st)
	}
	for _, s := range w.Requests() {
		if len(s.Headers) != 1 || len(s.Params) != 0 {
			t.Errorf("sent %+v, want the caller's one header", s)
		}
	}
}

// TestForeignTokenPassesWhenOurTokenCannotBeHad: the Manager cannot tell a
// foreign token from ours without a token of its own; when it has none, the
// caller's request goes out untouched instead of failing.
func TestForeignTokenPassesWhenOurTokenCannotBeHad(t *testing.T) {
	srv := newSim(t)
	other := otherAppToken(t, srv)
	f := FetcherFunc("broken", func(context.Context) (Token, error) { return Token{}, errors.New("no token today") })
	c := &http.Client{Transport: &Transport{Fetcher: f, Manager: &Manager{}, Base: srv.Transport()}}
	req := newRequest(t, "GET", "https://oapi.dingtalk.com/topapi/v2/user/get?access_token="+other, nil)
	if status, out := getJSON(t, c, req); status != 200 || out["errcode"] != float64(0) {
		t.Errorf("%d %v, want the caller's token to work", status, out)
	}
	req = newRequest(t, "GET", "https://oapi.dingtalk.com/topapi/v2/user/get?access_token="+TokenPlaceholder, nil)
	if _, err := c.Do(req); err == nil || !strings.Contains(err.Error(), "no token today") {
		t.Errorf("placeholder: err = %v, want the fetcher's error", err)
	}
}

func TestTokenParams(t *testing.T) {
	for _, tt := range []struct {
		in, without string
		has         bool
	}{
		{"", "", false},
		{"a=1", "a=1", false},
		{"access_token=x", "", true},
		{"access_token=x&a=1", "a=1", true},
		{"a=1&access_token=x", "a=1", true},
		{"a=1&access_token=x&b=2&access_token=y", "a=1&b=2", true},
		{"x_access_token=1&access_tokens=2", "x_access_token=1&access_tokens=2", false},
		{"access%5Ftoken=x&a=1", "a=1", true},
		{"%61ccess%5ftoken=x", "", true},
		{"a=%20&b=2", "a=%20&b=2", false},
		{"access_token&a=1", "a=1", true},
	} {
		if got := withoutTokenParams(tt.in); got != tt.without {
			t.Errorf("withoutTokenParams(%q) = %q, want %q", tt.in, got, tt.without)
		}
		if got := hasTokenParam(tt.in); got != tt.has {
			t.Errorf("hasTokenParam(%q) = %v, want %v", tt.in, got, tt.has)
		}
	}
}
