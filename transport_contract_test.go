package dingtoken

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// staticFetcher hands out one long-lived token under key.
func staticFetcher(key, value string) Fetcher {
	return FetcherFunc(key, func(context.Context) (Token, error) {
		return Token{Value: value, Expiry: time.Now().Add(time.Hour)}, nil
	})
}

// okBase answers every request with a small JSON success and records it.
type okBase struct {
	last atomic.Pointer[http.Request]
}

func (b *okBase) RoundTrip(r *http.Request) (*http.Response, error) {
	closeBody(r)
	b.last.Store(r)
	return &http.Response{
		StatusCode: 200, Header: http.Header{"Content-Type": {"application/json"}},
		ContentLength: 2, Body: io.NopCloser(strings.NewReader("{}")), Request: r,
	}, nil
}

// TestPlainHTTPIsSentOverHTTPS: the official SDK's operations default to
// plain http; a request for a token host goes out over https instead, and
// the caller's request keeps its scheme. Loopback and other hosts are left
// as they are.
func TestPlainHTTPIsSentOverHTTPS(t *testing.T) {
	tests := []struct{ url, wantScheme string }{
		{"http://api.dingtalk.com/v1.0/contact/users/me", "https"},
		{"http://oapi.dingtalk.com/topapi/v2/user/get", "https"},
		{"http://dingtalk.example/user/get", "https"},
		{"http://api.dingtalk.com/v1.0/oauth2/accessToken", "https"}, // secrets too
		{"http://api.dingtalk.com/v1.0/contact/users/me?access_token=someone-elses", "https"},
		{"http://127.0.0.1:9/v1.0/contact/users/me", "http"},
		{"http://elsewhere.example/v1.0/x", "http"},
	}
	for _, tt := range tests {
		t.Run(tt.url, func(t *testing.T) {
			base := &okBase{}
			tr := &Transport{Fetcher: staticFetcher("plain", "tok-plain-1"), Manager: &Manager{}, Base: base,
				Hosts: []string{"api.dingtalk.com", "oapi.dingtalk.com", "dingtalk.example", "127.0.0.1"}}
			req := newRequest(t, "GET", tt.url, nil)
			resp, err := tr.RoundTrip(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if got := base.last.Load().URL.Scheme; got != tt.wantScheme {
				t.Errorf("sent over %s, want %s", got, tt.wantScheme)
			}
			if req.URL.Scheme != "http" {
				t.Errorf("the caller's request was changed to %s", req.URL.Scheme)
			}
		})
	}
}

func TestOtherSchemesAreRefused(t *testing.T) {
	base := &okBase{}
	tr := &Transport{Fetcher: staticFetcher("ws", "tok-ws-1"), Manager: &Manager{}, Base: base}
	req := newRequest(t, "GET", "ws://api.dingtalk.com/v1.0/x", nil)
	if _, err := tr.RoundTrip(req); err == nil || !strings.HasPrefix(err.Error(), "dingtoken: ") {
		t.Errorf("err = %v, want a refusal", err)
	}
	if base.last.Load() != nil {
		t.Error("the request was sent")
	}
}

// TestResponseRequestIsTheCallers: resp.Request is what logging and tracing
// middleware print; it must be the caller's request, not the copy that
// carried the token.
func TestResponseRequestIsTheCallers(t *testing.T) {
	const token = "tok-in-resp-request-77"
	for _, u := range []string{"https://api.dingtalk.com/v1.0/contact/users/me", "https://oapi.dingtalk.com/topapi/v2/user/get?lang=zh",
		"http://api.dingtalk.com/v1.0/oauth2/accessToken"} {
		t.Run(u, func(t *testing.T) {
			tr := &Transport{Fetcher: staticFetcher("resp", token), Manager: &Manager{}, Base: &okBase{}}
			req := newRequest(t, "GET", u, nil)
			resp, err := tr.RoundTrip(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.Request != req {
				t.Errorf("resp.Request is %p, want the caller's %p", resp.Request, req)
			}
			assertNoSecret(t, "resp.Request", resp.Request.URL.String(), token)
			for _, v := range resp.Request.Header {
				assertNoSecret(t, "resp.Request header", strings.Join(v, " "), token)
			}
		})
	}
}

// closeCounter counts CloseIdleConnections calls.
type closeCounter struct {
	okBase
	closed atomic.Int32
}

func (c *closeCounter) CloseIdleConnections() { c.closed.Add(1) }

func TestCloseIdleConnectionsReachesBase(t *testing.T) {
	base := &closeCounter{}
	c := &http.Client{Transport: &Transport{Fetcher: staticFetcher("idle", "tok-idle"), Base: base}}
	c.CloseIdleConnections()
	if n := base.closed.Load(); n != 1 {
		t.Errorf("Base.CloseIdleConnections called %d times, want 1", n)
	}
	(&Transport{Base: &okBase{}}).CloseIdleConnections() // a Base without the method is fine
}

// TestBaseWithoutResponseOrError: a broken Base that returns (nil, nil)
// gives the caller an error, on every path, instead of a nil-pointer panic.
func TestBaseWithoutResponseOrError(t *testing.T) {
	broken := roundTripFunc(func(*http.Request) (*http.Response, error) { return nil, nil })
	tr := &Transport{Fetcher: staticFetcher("nil", "tok-nil"), Manager: &Manager{}, Base: broken}
	for _, u := range []string{
		"https://api.dingtalk.com/v1.0/contact/users/me",
		"https://oapi.dingtalk.com/topapi/v2/user/get",
		"https://api.dingtalk.com/v1.0/oauth2/accessToken",
		"https://elsewhere.example/",
	} {
		t.Run(u, func(t *testing.T) {
			var resp *http.Response
			var err error
			func() {
				defer func() {
					if r := recover(); r != nil {
						t.Fatalf("panic: %v", r)
					}
				}()
				resp, err = tr.RoundTrip(newRequest(t, "GET", u, nil))
			}()
			if resp != nil || err == nil || !strings.HasPrefix(err.Error(), "dingtoken: ") {
				t.Errorf("got %v, %v; want no response and a dingtoken error", resp, err)
			}
		})
	}
}

// TestPassThroughPaths: DingTalk's token endpoints (secrets, not tokens)
// and robot webhooks (their own token) never get a token of ours, and never
// make the Manager fetch one.
func TestPassThroughPaths(t *testing.T) {
	paths := []string{
		"/gettoken?appkey=k&appsecret=s", "/sns/gettoken?appid=a&appsecret=s",
		"/service/get_corp_token", "/service/get_suite_token", "/sso/gettoken?corpid=c&corpsecret=s",
		"/robot/send?access_token=robot-hook", "/robot/sendBySession?session=s",
		"/v1.0/oauth2/accessToken", "/v1.0/oauth2/corpAccessToken", "/v1.0/oauth2/suiteAccessToken",
		"/v1.0/oauth2/userAccessToken", "/v1.0/oauth2/ssoAccessToken", "/v1.0/oauth2/ding9f41/token",
		"/v1.0/gateway/connections/open",
	}
	for _, p := range paths {
		t.Run(p, func(t *testing.T) {
			base := &okBase{}
			m := &Manager{}
			tr := &Transport{Fetcher: staticFetcher("pass", "tok-pass-through"), Manager: m, Base: base}
			host := "oapi.dingtalk.com"
			if strings.HasPrefix(p, "/v1.0/") {
				host = "api.dingtalk.com"
			}
			req := newRequest(t, "POST", "https://"+host+p, strings.NewReader(`{}`))
			resp, err := tr.RoundTrip(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			sent := base.last.Load()
			if sent != req {
				t.Error("the request was not passed through as it was")
			}
			assertNoSecret(t, "URL", sent.URL.String(), "tok-pass-through")
			assertNoSecret(t, "header", sent.Header.Get("x-acs-dingtalk-access-token"), "tok-pass-through")
			if st := m.Stats(); st.Fetches != 0 {
				t.Errorf("the Manager fetched %d tokens for a pass-through request", st.Fetches)
			}
		})
	}
	for _, p := range []string{"/v1.0/oauth2/jsapiTickets", "/get_jsapi_ticket", "/v1.0/contact/users/me"} {
		if passesThrough(p) {
			t.Errorf("%s passes through, but it takes an access token", p)
		}
	}
}

// TestTransportAsDefaultTransport: a program that makes the Transport
// http.DefaultTransport (so that an SDK's own http.Client sends tokens)
// without setting Base must not send its requests to itself forever.
func TestTransportAsDefaultTransport(t *testing.T) {
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") }))
	defer other.Close()
	tr := &Transport{Fetcher: staticFetcher("default", "tok-default")}
	saved := http.DefaultTransport
	http.DefaultTransport = tr
	defer func() { http.DefaultTransport = saved }()

	resp, err := (&http.Client{}).Get(other.URL)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(body) != "ok" {
		t.Errorf("got %q", body)
	}
	startupTransport.(*http.Transport).CloseIdleConnections()
}

// TestHotPathAllocations: looking at callers' tokens costs a request that
// has none no allocation. The Transport's own, over its base's: the request
// copy and the header map (2 allocations) for the new API; the request copy,
// the query string and the peek at the legacy API's 200 answer (buffer and
// reader) for the legacy one.
func TestHotPathAllocations(t *testing.T) {
	base := &okBase{}
	tr := &Transport{Fetcher: staticFetcher("allocs", "0123456789abcdef"), Manager: &Manager{}, Base: base}
	for _, tt := range []struct {
		url  string
		want float64
	}{
		{"https://api.dingtalk.com/v1.0/contact/users/me", 3},
		{"https://oapi.dingtalk.com/topapi/v2/user/get?userid=1", 4},
	} {
		req := newRequest(t, "GET", tt.url, nil)
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("User-Agent", "dingtoken-test")
		if _, err := tr.RoundTrip(req); err != nil {
			t.Fatal(err)
		}
		bare := testing.AllocsPerRun(1000, func() { resp, _ := base.RoundTrip(req); resp.Body.Close() })
		ours := testing.AllocsPerRun(1000, func() { resp, _ := tr.RoundTrip(req); resp.Body.Close() })
		if extra := ours - bare; extra > tt.want {
			t.Errorf("%s: the Transport adds %v allocations, want at most %v", tt.url, extra, tt.want)
		}
	}
}

// TestOurTokenStaysOffOtherHosts: http.Client copies a caller's headers to
// the target of a redirect, so a token the caller put on a request to
// DingTalk itself would follow a redirect elsewhere; and a caller may put
// one on a request to another host. A token the Manager issued, or the
// placeholder, is taken off a request to a host that gets no token; any
// other token is sent as it is.
func TestOurTokenStaysOffOtherHosts(t *testing.T) {
	srv := newSim(t)
	m := &Manager{}
	f := appCreds(srv)
	issued := tokenOf(t, m, f)
	var landed struct {
		sync.Mutex
		header, query string
		requests      int
	}
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		landed.Lock()
		defer landed.Unlock()
		landed.header, landed.query = r.Header.Get(tokenHeader), r.URL.Query().Get(tokenParam)
		landed.requests++
	}))
	defer other.Close()
	srv.Handle("/v1.0/redirect", http.RedirectHandler(other.URL+"/landed", http.StatusFound))
	client := &http.Client{Transport: &Transport{Fetcher: f, Manager: m, Base: srv.Transport()}}
	for _, tc := range []struct {
		name, url, header string
		wantHeader        string
		wantQuery         string
	}{
		{"issued token, redirected", "https://api.dingtalk.com/v1.0/redirect", issued, "", ""},
		{"placeholder, redirected", "https://api.dingtalk.com/v1.0/redirect", TokenPlaceholder, "", ""},
		{"issued token in the header, to another host", other.URL + "/direct", issued, "", ""},
		{"a user's token in the header, to another host", other.URL + "/direct", "tok-of-a-user", "tok-of-a-user", ""},
		{"issued token in the query, to another host", other.URL + "/direct?a=1&access_token=" + issued, "", "", ""},
		{"a user's token in the query, to another host", other.URL + "/direct?access_token=tok-of-a-user", "", "", "tok-of-a-user"},
		{"issued token in the header, a user's in the query", other.URL + "/direct?access_token=tok-of-a-user", issued, "", "tok-of-a-user"},
		{"a user's token in the header, issued in the query", other.URL + "/direct?access_token=" + issued, "tok-of-a-user", "tok-of-a-user", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req := newRequest(t, "GET", tc.url, nil)
			if tc.header != "" {
				req.Header.Set(tokenHeader, tc.header)
			}
			resp, err := client.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			landed.Lock()
			defer landed.Unlock()
			if landed.requests != 1 {
				t.Fatalf("%d requests reached the other host, want 1", landed.requests)
			}
			landed.requests = 0
			if landed.header != tc.wantHeader || landed.query != tc.wantQuery {
				t.Errorf("the other host got header %q and query %q, want %q and %q", landed.header, landed.query, tc.wantHeader, tc.wantQuery)
			}
			if got := req.Header.Get(tokenHeader); got != tc.header {
				t.Errorf("the caller's request now has header %q, want its own %q", got, tc.header)
			}
		})
	}
}
