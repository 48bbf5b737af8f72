package dingtoken

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// TestTokenRequestsStayOnTheEndpointHost: a token endpoint that redirects
// elsewhere gets no credentials sent on, and its target's token is never
// used, with the default client or the caller's own, which is left as it was.
func TestTokenRequestsStayOnTheEndpointHost(t *testing.T) {
	const secret = "secret-never-redirected-4c1e"
	var stolen atomic.Int32
	thief := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		stolen.Add(1)
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(`{"errcode":0,"accessToken":"tok-from-thief","access_token":"tok-from-thief","expireIn":7200,"expires_in":7200}`))
	}))
	defer thief.Close()
	endpoint := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		status := http.StatusTemporaryRedirect // re-sends a POST body
		if r.Method == http.MethodGet {
			status = http.StatusFound
		}
		http.Redirect(w, r, thief.URL+r.URL.RequestURI(), status)
	}))
	defer endpoint.Close()

	for _, client := range []struct {
		name string
		c    *http.Client
	}{{"default client", nil}, {"caller's client", &http.Client{}}} {
		for _, f := range []Fetcher{
			&AppCredentials{ClientID: testClientID, ClientSecret: secret, Endpoint: endpoint.URL, HTTPClient: client.c},
			&LegacyAppCredentials{AppKey: testClientID, AppSecret: secret, Endpoint: endpoint.URL, HTTPClient: client.c},
			&CorpCredentials{SuiteKey: "suite", SuiteSecret: secret, AuthCorpID: "corp", Endpoint: endpoint.URL, HTTPClient: client.c,
				SuiteTicket: func(context.Context) (string, error) { return "ticket", nil }},
		} {
			t.Run(client.name+" "+strings.TrimPrefix(fmt.Sprintf("%T", f), "*dingtoken."), func(t *testing.T) {
				tok, err := f.Fetch(context.Background())
				if !errors.Is(err, ErrUnsafeTokenRequest) || tok.Value != "" {
					t.Errorf("got %v, %v; want ErrUnsafeTokenRequest", tok, err)
				}
				if err != nil {
					assertNoSecret(t, "error", err.Error(), secret, "ticket")
				}
			})
		}
	}
	if n := stolen.Load(); n != 0 {
		t.Errorf("the other host received %d token requests", n)
	}
}

// TestTokenRequestRedirectOnTheSameHost: a redirect within the endpoint's
// host is followed, through the caller's CheckRedirect, which is not replaced.
func TestTokenRequestRedirectOnTheSameHost(t *testing.T) {
	var asked atomic.Int32
	own := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { asked.Add(1); return nil }}
	sameHost := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/gettoken" {
			http.Redirect(w, r, "/moved/gettoken?"+r.URL.RawQuery, http.StatusFound)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(`{"errcode":0,"access_token":"tok-after-move","expires_in":7200}`))
	}))
	defer sameHost.Close()
	f := &LegacyAppCredentials{AppKey: testClientID, AppSecret: testSecret, Endpoint: sameHost.URL, HTTPClient: own}
	tok, err := f.Fetch(context.Background())
	if err != nil || tok.Value != "tok-after-move" {
		t.Errorf("got %v, %v; want the token after a same-host redirect", tok, err)
	}
	if asked.Load() != 1 {
		t.Errorf("the caller's CheckRedirect was asked %d times, want 1", asked.Load())
	}
	if own.CheckRedirect == nil || own.Transport != nil || own.Jar != nil || own.Timeout != 0 {
		t.Error("the caller's client was modified")
	}
}

// TestTokenRequestsRefusePlainHTTP: credentials go only over https, except
// to loopback, on the first request and on every redirect.
func TestTokenRequestsRefusePlainHTTP(t *testing.T) {
	srv := newSim(t)
	downgrade := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "http://api.dingtalk.com"+r.URL.RequestURI(), http.StatusTemporaryRedirect)
	}))
	defer downgrade.Close()
	// Sends https://api.dingtalk.com to the downgrading server and
	// everything else for DingTalk's hosts to the simulator.
	route := &http.Client{Transport: roundTripFunc(func(r *http.Request) (*http.Response, error) {
		if r.URL.Scheme == "https" && r.URL.Host == "api.dingtalk.com" {
			c := r.Clone(r.Context())
			c.URL.Scheme, c.URL.Host = "http", downgrade.Listener.Addr().String()
			return http.DefaultTransport.RoundTrip(c)
		}
		return srv.Transport().RoundTrip(r)
	})}
	tests := []struct {
		name string
		f    Fetcher
	}{
		{"new API over http", &AppCredentials{ClientID: testClientID, ClientSecret: testSecret, Endpoint: "http://api.dingtalk.com", HTTPClient: srv.Client()}},
		{"legacy over http", &LegacyAppCredentials{AppKey: testClientID, AppSecret: testSecret, Endpoint: "http://oapi.dingtalk.com", HTTPClient: srv.Client()}},
		{"redirect from https to http", &AppCredentials{ClientID: testClientID, ClientSecret: testSecret, HTTPClient: route}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			tok, err := tt.f.Fetch(ctx)
			if !errors.Is(err, ErrUnsafeTokenRequest) || tok.Value != "" {
				t.Errorf("got %v, %v; want ErrUnsafeTokenRequest", tok, err)
			}
		})
	}
	if n := srv.Fetches(testClientID); n != 0 {
		t.Errorf("%d token requests reached DingTalk over plain http", n)
	}
}
