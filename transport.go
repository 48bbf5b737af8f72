package dingtoken

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
)

// DefaultHosts are the hosts a [Transport] with nil Hosts sends tokens to.
var DefaultHosts = []string{"api.dingtalk.com", "oapi.dingtalk.com"}

// MaxReplayBody is the largest request body without GetBody that a
// [Transport] buffers so it can send the request again with a fresh token.
// A larger one is sent once, and a rejection of it is returned as it is.
const MaxReplayBody = 1 << 20

// maxDrain bounds how much of a rejected response is read before its
// connection is given back.
const maxDrain = 64 << 10

// Transport is an http.RoundTripper that puts a token from Manager on every
// request to one of Hosts, and when DingTalk rejects that token, drops it,
// gets a fresh one and sends the request once more.
//
// Requests to other hosts, to the token endpoints, and requests that already
// carry an access_token (robot webhooks) pass through untouched.
type Transport struct {
	// Fetcher gets this transport's tokens. Required.
	Fetcher Fetcher
	// Manager caches the tokens. If nil, DefaultManager is used.
	Manager *Manager
	// Base sends the requests. If nil, http.DefaultTransport is used.
	Base http.RoundTripper
	// Hosts receive the token. If nil, DefaultHosts is used. Tokens go only
	// over https, except to loopback addresses.
	Hosts []string
}

// NewClient returns an http.Client whose requests to DingTalk carry f's
// tokens, cached by DefaultManager.
func NewClient(f Fetcher) *http.Client {
	return &http.Client{Transport: &Transport{Fetcher: f}}
}

// RoundTrip sends req with a token, and once more with a fresh token if
// DingTalk rejects the first one.
func (t *Transport) RoundTrip(req *http.Request) (*http.Response, error) {
	if !t.wantsToken(req) {
		return t.base().RoundTrip(req)
	}
	if req.URL.Scheme != "https" && !isLoopback(req.URL.Hostname()) {
		closeBody(req)
		return nil, fmt.Errorf("dingtoken: refusing to send a token over %s to %s; use https", req.URL.Scheme, req.URL.Host)
	}
	if t.Fetcher == nil {
		closeBody(req)
		return nil, fmt.Errorf("dingtoken: Transport.Fetcher is nil")
	}
	m := t.manager()
	ctx := req.Context()
	tok, err := m.entry(ctx, t.Fetcher)
	if err != nil {
		closeBody(req)
		return nil, err
	}
	body, replay, err := replayableBody(req)
	if err != nil {
		return nil, fmt.Errorf("dingtoken: reading the request body: %w", err)
	}

	resp, err := t.send(req, tok, body)
	if err != nil || !t.rejected(req, resp, tok) {
		return resp, err
	}
	if !m.invalidate(ctx, t.Fetcher, tok.token.Value) || replay == nil {
		return resp, nil // not to be retried, or the body cannot be sent again: the caller sees DingTalk's answer
	}
	discard(resp)
	fresh, err := m.entry(ctx, t.Fetcher)
	if err != nil {
		return nil, err
	}
	if body, err = replay(); err != nil {
		return nil, fmt.Errorf("dingtoken: getting the request body to send again: %w", err)
	}
	m.stats.retries.Add(1)
	resp, err = t.send(req, fresh, body)
	if err == nil && t.rejected(req, resp, fresh) {
		// Never a second retry: the caller gets this answer. Reporting it
		// drops the fresh token, or, if it replaced the rejected one,
		// damps the chain.
		m.invalidate(ctx, t.Fetcher, fresh.token.Value)
	}
	return resp, err
}

// rejected reports whether resp says DingTalk rejected tok's token, and
// records that DingTalk took it otherwise.
func (t *Transport) rejected(req *http.Request, resp *http.Response, tok *entry) bool {
	if inspectResponse(resp, isNewAPIPath(req.URL.Path)) {
		return true
	}
	tok.accept()
	return false
}

// send sends a copy of req with tok's token and body. The copy is needed
// because a RoundTripper must not modify the request it was given: the
// caller may reuse it, and http.Client reads it again for redirects. It is a
// shallow copy with its own URL or Header, the only parts changed, and costs
// less than req.Clone.
func (t *Transport) send(req *http.Request, tok *entry, body io.ReadCloser) (*http.Response, error) {
	c := &requestCopy{req: *req}
	r := &c.req
	r.Body = body
	if isNewAPIPath(req.URL.Path) {
		r.Header = make(http.Header, len(req.Header)+1)
		for k, v := range req.Header {
			r.Header[k] = v
		}
		r.Header[tokenHeader] = tok.header[:]
	} else {
		c.url = *req.URL
		if c.url.RawQuery == "" {
			c.url.RawQuery = tok.query
		} else {
			c.url.RawQuery += "&" + tok.query
		}
		r.URL = &c.url
	}
	resp, err := t.base().RoundTrip(r)
	if err != nil {
		return nil, redactError(err, tok.token.Value)
	}
	return resp, nil
}

// requestCopy holds a shallow copy of a request and, when the token goes in
// the query, its URL: one allocation instead of two.
type requestCopy struct {
	req http.Request
	url url.URL
}

// tokenHeader is the new API's token header, in canonical form.
const tokenHeader = "X-Acs-Dingtalk-Access-Token"

// wantsToken reports whether req goes to DingTalk and needs our token.
func (t *Transport) wantsToken(req *http.Request) bool {
	hosts := t.Hosts
	if hosts == nil {
		hosts = DefaultHosts
	}
	host := req.URL.Hostname()
	found := false
	for _, h := range hosts {
		if strings.EqualFold(h, host) {
			found = true
			break
		}
	}
	return found && !isTokenEndpoint(req.URL.Path) && !strings.Contains(req.URL.RawQuery, "access_token=")
}

func (t *Transport) manager() *Manager {
	if t.Manager == nil {
		return DefaultManager
	}
	return t.Manager
}

func (t *Transport) base() http.RoundTripper {
	if t.Base == nil {
		return http.DefaultTransport
	}
	return t.Base
}

// isNewAPIPath reports whether path belongs to the new API, which takes the
// token in a header; the legacy API takes it in the query.
func isNewAPIPath(path string) bool {
	return strings.HasPrefix(path, "/v1.0/") || strings.HasPrefix(path, "/v2.0/")
}

// isTokenEndpoint reports whether path is one of DingTalk's token endpoints,
// which authenticate with secrets rather than an access token.
func isTokenEndpoint(path string) bool {
	switch path {
	case "/gettoken", "/sns/gettoken", "/service/get_corp_token",
		"/v1.0/oauth2/accessToken", "/v1.0/oauth2/corpAccessToken", "/v1.0/oauth2/suiteAccessToken",
		"/v1.0/oauth2/userAccessToken", "/v1.0/oauth2/ssoAccessToken":
		return true
	}
	// POST /v1.0/oauth2/{corpId}/token
	return strings.HasPrefix(path, "/v1.0/oauth2/") && strings.HasSuffix(path, "/token")
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// replayableBody returns the body to send first and, if the request can be
// sent again, a function that returns its body anew. A body without GetBody
// is buffered, up to MaxReplayBody.
func replayableBody(req *http.Request) (first io.ReadCloser, replay func() (io.ReadCloser, error), err error) {
	if req.Body == nil || req.Body == http.NoBody {
		return req.Body, noBody, nil
	}
	if req.GetBody != nil {
		return req.Body, req.GetBody, nil
	}
	buf, err := io.ReadAll(io.LimitReader(req.Body, MaxReplayBody+1))
	if err != nil {
		req.Body.Close()
		return nil, nil, err
	}
	if len(buf) > MaxReplayBody {
		// Too large to keep: send what was read followed by the rest, once.
		return struct {
			io.Reader
			io.Closer
		}{io.MultiReader(bytes.NewReader(buf), req.Body), req.Body}, nil, nil
	}
	req.Body.Close()
	replay = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(buf)), nil }
	first, _ = replay()
	return first, replay, nil
}

func noBody() (io.ReadCloser, error) { return nil, nil }

// discard reads a little of resp's body, so its connection can be reused,
// and closes it.
func discard(resp *http.Response) {
	io.CopyN(io.Discard, resp.Body, maxDrain)
	resp.Body.Close()
}

func closeBody(req *http.Request) {
	if req.Body != nil {
		req.Body.Close()
	}
}
