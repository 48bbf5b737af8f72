package dingtokenotel

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptrace"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/dingtoken/dingtoken"
	"github.com/dingtoken/dingtoken/dingtalktest"
	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
	"go.opentelemetry.io/otel/attribute"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
)

const (
	newAPIURL    = "https://api.dingtalk.com/v1.0/contact/users/me"
	legacyAPIURL = "https://oapi.dingtalk.com/topapi/v2/user/get?userid=manager4220"
)

// roundTripFunc is an http.RoundTripper made of a function.
type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(req *http.Request) (*http.Response, error) { return f(req) }

// failingBase fails every request with an error that quotes the request as
// sent: its URL (with the legacy API's token) and its headers (with the new
// API's), as a transport's error may.
var failingBase = roundTripFunc(func(req *http.Request) (*http.Response, error) {
	return nil, &url.Error{Op: req.Method, URL: req.URL.String(), Err: fmt.Errorf("connection reset; headers %v", req.Header)}
})

// traced returns a client whose requests otelhttp traces into tel, sent by rt.
func traced(tel *telemetry, rt http.RoundTripper) *http.Client {
	return &http.Client{Transport: otelhttp.NewTransport(rt, otelhttp.WithTracerProvider(tel.tp), otelhttp.WithMeterProvider(tel.mp))}
}

// events returns the events called name on the ended spans.
func events(tel *telemetry, name string) []sdktrace.Event {
	var out []sdktrace.Event
	for _, s := range tel.spans.Ended() {
		for _, e := range s.Events() {
			if e.Name == name {
				out = append(out, e)
			}
		}
	}
	return out
}

// TestSafeCompositionLeaksNothing: otelhttp outside the Transport, the
// Manager's hooks from NewHooks, in both API generations: a request, a
// revocation (the stale and the fresh token), a token rejected on every
// call, and a Base whose error quotes the request. The spans show the
// rejections and the retries as events; no span attribute, event, status or
// metric holds a token the simulator issued or the app secret.
func TestSafeCompositionLeaksNothing(t *testing.T) {
	tests := []struct {
		name    string
		fetcher func(srv *dingtalktest.Server, tel *telemetry) dingtoken.Fetcher
		url     string
		api     string
		status  int
		code    string
	}{
		{"new API", func(srv *dingtalktest.Server, tel *telemetry) dingtoken.Fetcher {
			// The secret travels in a POST body, which otelhttp does not
			// record: tracing this client is safe, and traced here.
			return &dingtoken.AppCredentials{ClientID: testClientID, ClientSecret: testSecret, HTTPClient: traced(tel, srv.Transport())}
		}, newAPIURL, "new", 400, "InvalidAuthentication"},
		{"legacy API", func(srv *dingtalktest.Server, _ *telemetry) dingtoken.Fetcher {
			return &dingtoken.LegacyAppCredentials{AppKey: testClientID, AppSecret: testSecret, HTTPClient: srv.Client()}
		}, legacyAPIURL, "legacy", 200, "40014"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := newSim(t)
			tel := newTelemetry(t)
			hooks, err := NewHooks(tel.mp)
			if err != nil {
				t.Fatal(err)
			}
			manager := &dingtoken.Manager{Hooks: hooks}
			f := tt.fetcher(srv, tel)
			opts := []otelhttp.Option{otelhttp.WithTracerProvider(tel.tp), otelhttp.WithMeterProvider(tel.mp)}
			client := &http.Client{Transport: NewTransport(&dingtoken.Transport{Fetcher: f, Manager: manager, Base: srv.Transport()}, opts...)}
			failing := &http.Client{Transport: NewTransport(&dingtoken.Transport{Fetcher: f, Manager: manager, Base: failingBase}, opts...)}
			ctx := context.Background()

			if status, err := get(ctx, client, tt.url); err != nil || status != 200 {
				t.Fatalf("first request: %d, %v", status, err)
			}
			srv.RevokeAll()
			if status, err := get(ctx, client, tt.url); err != nil || status != 200 {
				t.Fatalf("after a revocation: %d, %v; want 200", status, err)
			}
			srv.RejectTokens(true)
			if status, err := get(ctx, client, tt.url); err != nil || status != tt.status {
				t.Fatalf("a token rejected on every call: %d, %v; want DingTalk's %d", status, err, tt.status)
			}
			srv.RejectTokens(false)
			_, baseErr := get(ctx, failing, tt.url)
			if baseErr == nil {
				t.Fatal("a failing Base: no error")
			}

			if n := len(srv.Tokens()); n != 2 {
				t.Fatalf("the simulator issued %d tokens, want 2: the stale and the fresh", n)
			}
			if leaked := tel.leaks(t, append(srv.Tokens(), testSecret)); len(leaked) > 0 {
				t.Errorf("telemetry holds %d secrets or tokens: %q", len(leaked), leaked)
			}

			// What the spans show.
			rejected := events(tel, EventTokenRejected)
			if len(rejected) != 3 {
				t.Fatalf("%d %s events, want 3 (the revocation, and twice the rejection on every call)", len(rejected), EventTokenRejected)
			}
			want := []attribute.KeyValue{attrKey.String("app:" + testClientID), attrAPI.String(tt.api), attrStatus.Int(tt.status), attrCode.String(tt.code)}
			dropped := 0
			for _, e := range rejected {
				set := attribute.NewSet(e.Attributes...)
				if !has(set, want) {
					t.Errorf("%s event %v, want %v", EventTokenRejected, e.Attributes, want)
				}
				if v, _ := set.Value(attrDropped); v.AsBool() {
					dropped++
				}
			}
			if dropped != 2 {
				t.Errorf("%d of the rejections dropped the token, want 2 (the third was damped)", dropped)
			}
			if got := len(events(tel, EventRetried)); got != 2 {
				t.Errorf("%d %s events, want 2", got, EventRetried)
			}
			var statuses []string
			for _, s := range tel.spans.Ended() {
				if d := s.Status().Description; d != "" {
					statuses = append(statuses, d)
				}
			}
			if len(statuses) != 1 || !strings.Contains(statuses[0], "REDACTED") {
				t.Errorf("span status descriptions %q, want the base error, redacted", statuses)
			}
			rm := tel.metrics(t)
			if got := sum(t, rm, "dingtoken.rejections", attrAPI.String(tt.api), attrCode.String(tt.code)); got != 3 {
				t.Errorf("dingtoken.rejections = %d, want 3", got)
			}
			if got := sum(t, rm, "dingtoken.retries"); got != 2 {
				t.Errorf("dingtoken.retries = %d, want 2", got)
			}
		})
	}
}

// TestUnsafeCompositionLeaks proves the README's warning: otelhttp inside
// the Transport (as its Base) records the legacy API's URL, with the stale
// and the fresh token, and a base error quoting it in the span's status;
// otelhttp as LegacyAppCredentials.HTTPClient records the app secret. The
// same requests through NewTransport leak nothing.
func TestUnsafeCompositionLeaks(t *testing.T) {
	run := func(t *testing.T, client, failing func(tel *telemetry, srv *dingtalktest.Server, f dingtoken.Fetcher) *http.Client, fetchClient func(tel *telemetry, srv *dingtalktest.Server) *http.Client) (tokens []string, leaked []string) {
		srv := newSim(t)
		tel := newTelemetry(t)
		f := &dingtoken.LegacyAppCredentials{AppKey: testClientID, AppSecret: testSecret, HTTPClient: fetchClient(tel, srv)}
		c := client(tel, srv, f)
		ctx := context.Background()
		if status, err := get(ctx, c, legacyAPIURL); err != nil || status != 200 {
			t.Fatalf("first request: %d, %v", status, err)
		}
		srv.RevokeAll()
		if status, err := get(ctx, c, legacyAPIURL); err != nil || status != 200 {
			t.Fatalf("after a revocation: %d, %v", status, err)
		}
		if _, err := get(ctx, failing(tel, srv, f), legacyAPIURL); err == nil {
			t.Fatal("a failing Base: no error")
		}
		tokens = srv.Tokens()
		if len(tokens) != 2 {
			t.Fatalf("the simulator issued %d tokens, want 2 (stale and fresh)", len(tokens))
		}
		return tokens, tel.leaks(t, append(tokens, testSecret))
	}
	plainFetch := func(_ *telemetry, srv *dingtalktest.Server) *http.Client { return srv.Client() }
	tracedFetch := func(tel *telemetry, srv *dingtalktest.Server) *http.Client { return traced(tel, srv.Transport()) }
	// outside is the safe composition: otelhttp around the Transport.
	outside := func(base http.RoundTripper) func(*telemetry, *dingtalktest.Server, dingtoken.Fetcher) *http.Client {
		return func(tel *telemetry, srv *dingtalktest.Server, f dingtoken.Fetcher) *http.Client {
			if base == nil {
				base = srv.Transport()
			}
			return &http.Client{Transport: NewTransport(&dingtoken.Transport{Fetcher: f, Manager: &dingtoken.Manager{}, Base: base},
				otelhttp.WithTracerProvider(tel.tp), otelhttp.WithMeterProvider(tel.mp))}
		}
	}

	t.Run("otelhttp as Base", func(t *testing.T) {
		inside := func(base http.RoundTripper) func(*telemetry, *dingtalktest.Server, dingtoken.Fetcher) *http.Client {
			return func(tel *telemetry, srv *dingtalktest.Server, f dingtoken.Fetcher) *http.Client {
				if base == nil {
					base = srv.Transport()
				}
				return &http.Client{Transport: &dingtoken.Transport{Fetcher: f, Manager: &dingtoken.Manager{},
					Base: otelhttp.NewTransport(base, otelhttp.WithTracerProvider(tel.tp), otelhttp.WithMeterProvider(tel.mp))}}
			}
		}
		tokens, leaked := run(t, inside(nil), inside(failingBase), plainFetch)
		for _, tok := range tokens {
			if !slices.Contains(leaked, tok) {
				t.Errorf("token %.6s… not found in the spans: the unsafe composition no longer leaks it, and the warning needs a look", tok)
			}
		}
	})
	t.Run("otelhttp as the legacy HTTPClient", func(t *testing.T) {
		_, leaked := run(t, outside(nil), outside(failingBase), tracedFetch)
		if !slices.Contains(leaked, testSecret) {
			t.Error("the app secret is not in the token request's span: the warning needs a look")
		}
	})
	t.Run("NewTransport", func(t *testing.T) {
		if _, leaked := run(t, outside(nil), outside(failingBase), plainFetch); len(leaked) > 0 {
			t.Errorf("telemetry holds %d secrets or tokens", len(leaked))
		}
	})
}

// TestClientTraceSeesTheTokenHeader proves NewTransport's warning about
// otelhttp.WithClientTrace: an httptrace.ClientTrace runs inside the
// Transport, as the request is written, so one that records header fields
// sees the new API's token header.
func TestClientTraceSeesTheTokenHeader(t *testing.T) {
	srv := newSim(t)
	tel := newTelemetry(t)
	var mu sync.Mutex
	var written []string
	trace := otelhttp.WithClientTrace(func(context.Context) *httptrace.ClientTrace {
		return &httptrace.ClientTrace{WroteHeaderField: func(key string, value []string) {
			mu.Lock()
			defer mu.Unlock()
			written = append(written, key+": "+strings.Join(value, ","))
		}}
	})
	f := &dingtoken.AppCredentials{ClientID: testClientID, ClientSecret: testSecret, HTTPClient: srv.Client()}
	client := &http.Client{Transport: NewTransport(&dingtoken.Transport{Fetcher: f, Manager: &dingtoken.Manager{}, Base: srv.Transport()},
		otelhttp.WithTracerProvider(tel.tp), trace)}
	if status, err := get(context.Background(), client, newAPIURL); err != nil || status != 200 {
		t.Fatalf("request: %d, %v", status, err)
	}
	mu.Lock()
	defer mu.Unlock()
	tok := srv.CurrentToken(testClientID)
	if tok == "" || !strings.Contains(strings.Join(written, "\n"), tok) {
		t.Errorf("the ClientTrace did not see the token header (%d header fields): the warning needs a look", len(written))
	}
}

func TestNewTransportNil(t *testing.T) {
	defer func() {
		if r := recover(); r == nil || !strings.HasPrefix(fmt.Sprint(r), "dingtokenotel: ") {
			t.Errorf("recovered %v, want a dingtokenotel: panic", r)
		}
	}()
	NewTransport(nil)
}
