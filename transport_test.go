package dingtoken

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/dingtoken/dingtoken/dingtalktest"
	"github.com/dingtoken/dingtoken/internal/memcachedtest"
	"github.com/hashicorp/go-retryablehttp"
)

// newTestClient returns a client whose DingTalk requests go to srv with the
// test app's tokens, cached by m.
func newTestClient(srv *dingtalktest.Server, m *Manager) *http.Client {
	return &http.Client{Transport: &Transport{Fetcher: appCreds(srv), Manager: m, Base: srv.Transport()}}
}

// getJSON sends req and decodes the answer.
func getJSON(t *testing.T, c *http.Client, req *http.Request) (int, map[string]any) {
	t.Helper()
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		t.Fatalf("answer is not JSON: %v", err)
	}
	return resp.StatusCode, out
}

func newRequest(t testing.TB, method, rawURL string, body io.Reader) *http.Request {
	t.Helper()
	req, err := http.NewRequest(method, rawURL, body)
	if err != nil {
		t.Fatal(err)
	}
	return req
}

func TestTokenPlacement(t *testing.T) {
	srv := newSim(t)
	seen := make(chan *http.Request, 1)
	record := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seen <- r
		w.Write([]byte(`{"errcode":0,"errmsg":"ok"}`))
	})
	srv.Handle("/v1.0/contact/users/me", record)
	srv.Handle("/topapi/v2/user/get", record)
	c := newTestClient(srv, &Manager{})

	req := newRequest(t, "GET", "https://api.dingtalk.com/v1.0/contact/users/me?lang=zh", nil)
	if status, _ := getJSON(t, c, req); status != 200 {
		t.Fatalf("new API: status %d", status)
	}
	r := <-seen
	tok := srv.CurrentToken(testClientID)
	if got := r.Header.Get("x-acs-dingtalk-access-token"); got != tok || r.URL.Query().Has("access_token") {
		t.Errorf("new API: header %q, query %q; want the token in the header only", got, r.URL.RawQuery)
	}
	if req.Header.Get("x-acs-dingtalk-access-token") != "" {
		t.Error("the caller's request was modified")
	}

	req = newRequest(t, "POST", "https://oapi.dingtalk.com/topapi/v2/user/get?lang=zh", strings.NewReader(`{"userid":"1"}`))
	if status, _ := getJSON(t, c, req); status != 200 {
		t.Fatalf("legacy API: status %d", status)
	}
	r = <-seen
	if q := r.URL.Query(); q.Get("access_token") != tok || q.Get("lang") != "zh" || r.Header.Get("x-acs-dingtalk-access-token") != "" {
		t.Errorf("legacy API: query %q; want the token in the query only, beside the caller's", r.URL.RawQuery)
	}
	if req.URL.RawQuery != "lang=zh" {
		t.Errorf("the caller's URL was modified: %q", req.URL.RawQuery)
	}
}

func TestNoTokenToOtherHosts(t *testing.T) {
	srv := newSim(t)
	var leaked atomic.Int32
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("x-acs-dingtalk-access-token") != "" || r.URL.Query().Has("access_token") {
			leaked.Add(1)
		}
		w.Write([]byte(`{}`))
	}))
	defer other.Close()
	srv.Handle("/v1.0/redirect", http.RedirectHandler(other.URL+"/landed", http.StatusFound))
	srv.Handle("/redirect", http.RedirectHandler(other.URL+"/landed", http.StatusFound))
	c := newTestClient(srv, &Manager{})

	for _, u := range []string{other.URL + "/direct", "https://api.dingtalk.com/v1.0/redirect", "https://oapi.dingtalk.com/redirect"} {
		resp, err := c.Get(u)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	if n := leaked.Load(); n != 0 {
		t.Errorf("%d requests to another host carried the token", n)
	}
	if calls, _ := srv.APICalls(); calls != 2 {
		t.Errorf("the simulator saw %d API calls, want the 2 that redirected", calls)
	}
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

func TestWebhooksAndTokenEndpointsPassThrough(t *testing.T) {
	srv := newSim(t)
	m := &Manager{}
	c := newTestClient(srv, m)
	// A robot webhook carries its own access_token; DingTalk's answer comes back as it is.
	status, out := getJSON(t, c, newRequest(t, "POST", "https://oapi.dingtalk.com/robot/send?access_token=robot-hook-token", strings.NewReader(`{}`)))
	if status != 200 || out["errcode"] != float64(40014) {
		t.Errorf("webhook: %d %v, want DingTalk's own answer", status, out)
	}
	status, out = getJSON(t, c, newRequest(t, "POST", "https://api.dingtalk.com/v1.0/oauth2/accessToken",
		strings.NewReader(`{"appKey":"`+testClientID+`","appSecret":"`+testSecret+`"}`)))
	if status != 200 || out["accessToken"] == nil {
		t.Errorf("token endpoint: %d %v", status, out)
	}
	if st := m.Stats(); st.Fetches != 0 || st.Invalidations != 0 {
		t.Errorf("pass-through requests used the manager: %+v", st)
	}
	if calls, _ := srv.APICalls(); calls != 1 {
		t.Errorf("API calls = %d, want 1 (the webhook, sent once)", calls)
	}
}

func TestPersistentRejectionIsRetriedOnce(t *testing.T) {
	for _, tt := range []struct{ name, url, code string }{
		{"legacy", "https://oapi.dingtalk.com/topapi/v2/user/get", "40014"},
		{"new API", "https://api.dingtalk.com/v1.0/contact/users/me", "InvalidAuthentication"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			srv := newSim(t)
			srv.RejectTokens(true)
			m := &Manager{}
			resp, err := newTestClient(srv, m).Do(newRequest(t, "GET", tt.url, nil))
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			var apiErr *APIError
			raw, _ := io.ReadAll(resp.Body)
			if apiErr = parseAPIError(resp.StatusCode, raw); apiErr == nil || apiErr.Code != tt.code {
				t.Errorf("caller read %q, want DingTalk's %s answer", raw, tt.code)
			}
			if resp.ContentLength >= 0 && resp.ContentLength != int64(len(raw)) {
				t.Errorf("Content-Length %d, body %d bytes", resp.ContentLength, len(raw))
			}
			if calls, rejected := srv.APICalls(); calls != 2 || rejected != 2 {
				t.Errorf("API calls %d (%d rejected), want exactly 2", calls, rejected)
			}
			if got := srv.Fetches(testClientID); got != 2 {
				t.Errorf("token fetches %d, want 2 (first token and one after the rejection)", got)
			}
		})
	}
}

func TestRevokedTokenUnderConcurrency(t *testing.T) {
	srv := newSim(t)
	m := &Manager{}
	c := newTestClient(srv, m)
	if status, _ := getJSON(t, c, newRequest(t, "GET", "https://api.dingtalk.com/v1.0/warm", nil)); status != 200 {
		t.Fatal("warm-up failed")
	}
	srv.RevokeAll()
	errs := run(200, func(i int) error {
		u := "https://api.dingtalk.com/v1.0/contact/users/me"
		if i%2 == 1 {
			u = "https://oapi.dingtalk.com/topapi/v2/user/get"
		}
		resp, err := c.Do(newRequest(t, "GET", u, nil))
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		raw, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != 200 || parseAPIError(resp.StatusCode, raw) != nil {
			return errors.New("request failed: " + string(raw))
		}
		return nil
	})
	if err := firstError(errs); err != nil {
		t.Fatal(err)
	}
	if got := srv.Fetches(testClientID); got != 2 {
		t.Errorf("token fetches %d, want 2 (warm-up and one refresh)", got)
	}
	if st := m.Stats(); st.Invalidations != 1 {
		t.Errorf("Invalidations = %d, want 1", st.Invalidations)
	}
}

// onlyReader hides bytes.Reader's type, so that http.NewRequest sets no GetBody.
type onlyReader struct{ io.Reader }

func TestRetryReplaysABodyWithoutGetBody(t *testing.T) {
	srv := newSim(t)
	c := newTestClient(srv, &Manager{})
	getJSON(t, c, newRequest(t, "GET", "https://api.dingtalk.com/v1.0/warm", nil))
	srv.RevokeAll()

	payload := bytes.Repeat([]byte("0123456789abcdef"), 100<<10/16)
	req := newRequest(t, "POST", "https://oapi.dingtalk.com/topapi/message/send", onlyReader{bytes.NewReader(payload)})
	if req.GetBody != nil {
		t.Fatal("test setup: GetBody is set")
	}
	status, out := getJSON(t, c, req)
	sum := sha256.Sum256(payload)
	result, _ := out["result"].(map[string]any)
	if status != 200 || result["bodySHA256"] != hex.EncodeToString(sum[:]) || result["bodyLength"] != float64(len(payload)) {
		t.Errorf("retry sent %v, want the same %d bytes", result, len(payload))
	}
	if calls, rejected := srv.APICalls(); calls != 3 || rejected != 1 {
		t.Errorf("API calls %d (%d rejected), want the warm-up, the rejected send and one retry", calls, rejected)
	}
}

func TestBodyOverReplayCapIsSentOnce(t *testing.T) {
	srv := newSim(t)
	srv.RejectTokens(true)
	c := newTestClient(srv, &Manager{})
	payload := bytes.Repeat([]byte("x"), MaxReplayBody+1)
	status, out := getJSON(t, c, newRequest(t, "POST", "https://oapi.dingtalk.com/topapi/message/send", onlyReader{bytes.NewReader(payload)}))
	if status != 200 || out["errcode"] != float64(40014) {
		t.Errorf("got %d %v, want DingTalk's rejection", status, out)
	}
	if calls, _ := srv.APICalls(); calls != 1 {
		t.Errorf("API calls %d, want 1", calls)
	}
}

func TestLargeResponseStreamsThrough(t *testing.T) {
	srv := newSim(t)
	payload := bytes.Repeat([]byte(`{"k":"0123456789"},`), (1<<20)/19)
	firstBytesRead := make(chan struct{})
	srv.Handle("/topapi/big", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Write(payload[:1024])
		w.(http.Flusher).Flush()
		select { // the rest only once the client has the start
		case <-firstBytesRead:
		case <-time.After(20 * time.Second):
			return
		}
		w.Write(payload[1024:])
	}))
	c := newTestClient(srv, &Manager{})
	resp, err := c.Get("https://oapi.dingtalk.com/topapi/big")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	head := make([]byte, 1024)
	if _, err := io.ReadFull(resp.Body, head); err != nil {
		t.Fatal(err)
	}
	close(firstBytesRead)
	rest, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if got := append(head, rest...); !bytes.Equal(got, payload) {
		t.Errorf("caller read %d bytes, not the %d sent", len(got), len(payload))
	}
}

func TestCancelDuringRetry(t *testing.T) {
	srv := newSim(t)
	c := newTestClient(srv, &Manager{})
	getJSON(t, c, newRequest(t, "GET", "https://api.dingtalk.com/v1.0/warm", nil))
	srv.RevokeAll()
	srv.SetTokenDelay(time.Minute) // the refresh after the rejection hangs
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := c.Do(newRequest(t, "GET", "https://api.dingtalk.com/v1.0/contact/users/me", nil).WithContext(ctx))
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("err = %v, want context.DeadlineExceeded", err)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("the caller waited %v after its context ended", d)
	}
}

func TestNoTokenMeansTheManagersError(t *testing.T) {
	srv := newSim(t)
	c := &http.Client{Transport: &Transport{
		Fetcher: &AppCredentials{ClientID: testClientID, ClientSecret: "wrong-secret-0042", Endpoint: srv.URL},
		Manager: &Manager{}, Base: srv.Transport(),
	}}
	_, err := c.Get("https://api.dingtalk.com/v1.0/contact/users/me")
	var apiErr *APIError
	if !errors.As(err, &apiErr) || !errors.Is(err, ErrInvalidCredentials) {
		t.Errorf("err = %v, want the token endpoint's *APIError", err)
	}
	assertNoSecret(t, "error", err.Error(), "wrong-secret-0042")
}

// TestBaseErrorsNeverShowTheToken: net/http and go-retryablehttp quote the
// request URL in their errors, and a legacy URL holds the token.
func TestBaseErrorsNeverShowTheToken(t *testing.T) {
	closed := memcachedtest.ClosedAddr(t)
	const token = "tok-must-not-leak-91e2"
	f := FetcherFunc("leak", func(context.Context) (Token, error) {
		return Token{Value: token, Expiry: time.Now().Add(time.Hour)}, nil
	})
	retrying := quickRetries(&http.Client{})
	retrying.RetryMax = 1
	plain := &http.Transport{}
	defer plain.CloseIdleConnections()
	defer retrying.HTTPClient.CloseIdleConnections()
	tests := []struct {
		name      string
		base      http.RoundTripper
		quotesURL bool // the base's own error holds the URL, token and all
	}{
		{"net/http", plain, false},
		{"go-retryablehttp", &retryablehttp.RoundTripper{Client: retrying}, true},
		{"url.Error by hand", roundTripFunc(func(r *http.Request) (*http.Response, error) {
			return nil, &url.Error{Op: "Get", URL: r.URL.String(), Err: net.ErrClosed}
		}), true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := &http.Client{Transport: &Transport{Fetcher: f, Manager: &Manager{}, Base: tt.base, Hosts: []string{"127.0.0.1"}}}
			_, err := c.Get("http://" + closed + "/topapi/v2/user/get")
			if err == nil {
				t.Fatal("request to a closed port succeeded")
			}
			for e := err; e != nil; e = errors.Unwrap(e) {
				assertNoSecret(t, "error chain", e.Error(), token)
			}
			if tt.quotesURL && !strings.Contains(err.Error(), "REDACTED") {
				t.Errorf("err = %v, want the token REDACTED", err)
			}
			var ue *url.Error
			if !errors.As(err, &ue) {
				t.Errorf("errors.As(*url.Error) failed on %v", err)
			}
		})
	}
}

// flaky serves path on srv with status once, then with body; calls counts.
func flaky(srv *dingtalktest.Server, path string, status int, body string) *atomic.Int32 {
	var calls atomic.Int32
	srv.Handle(path, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if calls.Add(1) == 1 {
			w.WriteHeader(status)
			return
		}
		w.Write([]byte(body))
	}))
	return &calls
}

// quickRetries returns a silent retryablehttp.Client with millisecond waits
// that sends through c.
func quickRetries(c *http.Client) *retryablehttp.Client {
	rc := retryablehttp.NewClient()
	rc.Logger = nil
	rc.RetryWaitMin, rc.RetryWaitMax = time.Millisecond, 10*time.Millisecond
	rc.HTTPClient = c
	return rc
}

// TestUnderRetryablehttp: the Transport as the HTTPClient of a
// retryablehttp.Client, which retries a 503 with the same token.
func TestUnderRetryablehttp(t *testing.T) {
	srv := newSim(t)
	calls := flaky(srv, "/v1.0/flaky", http.StatusServiceUnavailable, `{"result":"ok"}`)
	rc := quickRetries(newTestClient(srv, &Manager{}))
	resp, err := rc.Get("https://api.dingtalk.com/v1.0/flaky")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || calls.Load() != 2 {
		t.Errorf("status %d after %d calls, want 200 after 2", resp.StatusCode, calls.Load())
	}
}

// TestOverRetryablehttp: a retrying transport as Base, with a revoked token
// and a flaky API at once.
func TestOverRetryablehttp(t *testing.T) {
	srv := newSim(t)
	flaky(srv, "/topapi/flaky", http.StatusBadGateway, `{"errcode":0,"errmsg":"ok"}`)
	rc := quickRetries(srv.Client())
	m := &Manager{}
	c := &http.Client{Transport: &Transport{Fetcher: appCreds(srv), Manager: m, Base: &retryablehttp.RoundTripper{Client: rc}}}
	getJSON(t, c, newRequest(t, "GET", "https://api.dingtalk.com/v1.0/warm", nil))
	srv.RevokeAll()
	status, out := getJSON(t, c, newRequest(t, "POST", "https://oapi.dingtalk.com/topapi/flaky", strings.NewReader(`{"a":1}`)))
	if status != 200 || out["errcode"] != float64(0) {
		t.Errorf("got %d %v", status, out)
	}
	if st := m.Stats(); st.Retries != 1 || st.Invalidations != 1 {
		t.Errorf("stats %+v, want one rejection and one retry", st)
	}
}

func TestNewClientUsesDefaultManager(t *testing.T) {
	c := NewClient(appCreds(newSim(t)))
	tr := c.Transport.(*Transport)
	if tr.manager() != DefaultManager || tr.base() != http.DefaultTransport {
		t.Error("NewClient should use DefaultManager and http.DefaultTransport")
	}
}
