package dingtoken

import (
	"bytes"
	"context"
	"errors"
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
// gets a fresh one and sends the request once more. Its Call method makes it
// the HttpClient of the official DingTalk SDK's runtime as well.
//
// A token the caller already put on a request (the x-acs-dingtalk-access-token
// header in any capitalisation, or the access_token query parameter) decides
// what happens: one the Manager issued for Fetcher's key, or
// [TokenPlaceholder], is replaced by the current token and recovered like an
// injected one; any other token (a user's, another app's) is sent untouched.
// Requests to the token endpoints and to robot webhooks pass through
// untouched too, and so do requests to other hosts, except that a token the
// Manager issued for Fetcher's key, or TokenPlaceholder, is taken off them:
// http.Client copies the caller's headers to the target of a redirect.
type Transport struct {
	// Fetcher gets this transport's tokens. Required.
	Fetcher Fetcher
	// Manager caches the tokens. If nil, DefaultManager is used.
	Manager *Manager
	// Base sends the requests. If nil, http.DefaultTransport is used (as it
	// was when the program started, if http.DefaultTransport is this
	// Transport itself). Base must not follow redirects itself: it would send
	// the token to wherever a redirect points, since net/http keeps the
	// x-acs-dingtalk-access-token header on a redirect to another host. The
	// caller's client follows them through this Transport instead, which
	// gives the token only to Hosts. A go-retryablehttp RoundTripper as
	// Base needs, on its HTTPClient:
	//
	//	CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	Base http.RoundTripper
	// Hosts receive the token. If nil, DefaultHosts is used. Requests to them
	// go only over https: plain http is sent as https, except to loopback
	// addresses.
	Hosts []string
}

// NewClient returns an http.Client whose requests to DingTalk carry f's
// tokens, cached by DefaultManager.
func NewClient(f Fetcher) *http.Client {
	return &http.Client{Transport: &Transport{Fetcher: f}}
}

// RoundTrip sends req with a token, and once more with a fresh token if
// DingTalk rejects the first one. The response's Request is req itself, so
// that whatever logs it does not see the token.
func (t *Transport) RoundTrip(req *http.Request) (*http.Response, error) {
	host := hostname(req.URL)
	if !t.isTokenHost(host) {
		resp, err := t.base().RoundTrip(t.withoutOurTokens(req))
		return t.finish(req, resp, err)
	}
	upgrade := false
	if req.URL.Scheme != "https" && !isLoopback(host) {
		if req.URL.Scheme != "http" {
			closeBody(req)
			return nil, fmt.Errorf("dingtoken: refusing to send a request for %s over %q; use https", req.URL.Host, req.URL.Scheme)
		}
		upgrade = true // the official SDK's default protocol is http
	}
	if passesThrough(req.URL.Path) {
		return t.forward(req, upgrade, nil)
	}
	if t.Fetcher == nil {
		closeBody(req)
		return nil, errors.New("dingtoken: Transport.Fetcher is nil")
	}
	m := t.manager()
	ctx := req.Context()
	tok, err := m.entry(ctx, t.Fetcher)
	newAPI := isNewAPIPath(req.URL.Path)
	var header http.Header // the new API's header copy, made now to look for a caller's token on the way
	var replace bool
	if newAPI {
		header, replace = copyHeader(req.Header)
	} else {
		replace = hasTokenHeader(req.Header)
	}
	if replace = replace || hasTokenParam(req.URL.RawQuery); replace {
		// The entry above was needed first: DingTalk re-issues an internal
		// app's token within its validity, so a token the caller fetched on
		// its own is usually the one the Manager has just cached.
		theirs := callerTokens(req)
		if !m.issuedAll(t.Fetcher, theirs) {
			return t.forward(req, upgrade, theirs) // a user's or another app's token: not ours to replace
		}
	}
	if err != nil {
		closeBody(req)
		return nil, err
	}
	body, replay, err := replayableBody(req)
	if err != nil {
		return nil, fmt.Errorf("dingtoken: reading the request body: %w", err)
	}

	resp, err := t.send(req, tok, body, newAPI, upgrade, replace, header)
	if err != nil || !rejected(resp, newAPI, tok) {
		return resp, err
	}
	retry := m.invalidate(ctx, t.Fetcher, tok.token.Value)
	m.reportRejection(ctx, t.Fetcher, resp, newAPI, retry)
	if !retry || replay == nil {
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
	m.retried(ctx, t.Fetcher)
	resp, err = t.send(req, fresh, body, newAPI, upgrade, replace, nil)
	if err == nil && rejected(resp, newAPI, fresh) {
		// Never a second retry: the caller gets this answer. Reporting it
		// drops the fresh token, or, if it replaced the rejected one,
		// damps the chain.
		dropped := m.invalidate(ctx, t.Fetcher, fresh.token.Value)
		m.reportRejection(ctx, t.Fetcher, resp, newAPI, dropped)
	}
	return resp, err
}

// rejected reports whether resp says DingTalk rejected tok's token, and
// records that DingTalk took it otherwise.
func rejected(resp *http.Response, newAPI bool, tok *entry) bool {
	if inspectResponse(resp, newAPI) {
		return true
	}
	tok.accept()
	return false
}

// Call sends req like RoundTrip. It makes a Transport the HttpClient of the
// official DingTalk SDK's runtime (github.com/alibabacloud-go/tea/dara), as
// in openapi.Config{HttpClient: &dingtoken.Transport{...}}.
//
// The runtime builds a new *http.Transport for every request, carrying its
// proxy, TLS and connect-timeout options; Call does not use it, because a
// transport per request opens a new connection per request. Requests go
// through Base, which keeps connections alive: set those options there.
//
// The runtime puts its proxy's user and password (RuntimeOptions.HttpProxy
// or HttpsProxy, or HTTP_PROXY and HTTPS_PROXY in the environment) on the
// request, as a Proxy-Authorization header for that transport's proxy.
// Call sends the request without it: no proxy of the runtime's is on the
// way, and the header would take the password to DingTalk. A proxy set on
// Base takes its credentials from its URL.
func (t *Transport) Call(req *http.Request, _ *http.Transport) (*http.Response, error) {
	sent := withoutProxyAuthorization(req)
	resp, err := t.RoundTrip(sent)
	if resp != nil && sent != req {
		resp.Request = req
	}
	return resp, err
}

// withoutProxyAuthorization returns req, or a shallow copy of it without
// its Proxy-Authorization header, in any case.
func withoutProxyAuthorization(req *http.Request) *http.Request {
	for k := range req.Header {
		if strings.EqualFold(k, "Proxy-Authorization") {
			r := *req
			r.Header = req.Header.Clone()
			for k := range r.Header {
				if strings.EqualFold(k, "Proxy-Authorization") {
					delete(r.Header, k)
				}
			}
			return &r
		}
	}
	return req
}

// CloseIdleConnections closes the idle connections of Base, if it has a
// CloseIdleConnections method, so that http.Client.CloseIdleConnections
// reaches it through the Transport.
func (t *Transport) CloseIdleConnections() {
	if c, ok := t.base().(interface{ CloseIdleConnections() }); ok {
		c.CloseIdleConnections()
	}
}

// send sends a copy of req with tok's token and body: in the header if
// newAPI, else in the query; over https if upgrade; and without the
// caller's own token headers and parameters if replace. header, if not nil,
// is the copy of req's header to send, without token headers. The copy is
// needed because a RoundTripper must not modify the request it was given:
// the caller may reuse it, and http.Client reads it again for redirects. It
// is a shallow copy with its own URL or Header, the only parts changed, and
// costs less than req.Clone; the new API's requests share the caller's URL.
func (t *Transport) send(req *http.Request, tok *entry, body io.ReadCloser, newAPI, upgrade, replace bool, header http.Header) (*http.Response, error) {
	var r *http.Request
	if newAPI && !upgrade && !replace {
		r = new(http.Request)
		*r = *req
	} else {
		c := &requestCopy{req: *req, url: *req.URL}
		r = &c.req
		r.URL = &c.url
		if upgrade {
			c.url.Scheme = "https"
		}
		if replace {
			c.url.RawQuery = withoutTokenParams(c.url.RawQuery)
		}
		if !newAPI {
			if c.url.RawQuery == "" {
				c.url.RawQuery = tok.query
			} else {
				c.url.RawQuery += "&" + tok.query
			}
		}
	}
	r.Body = body
	if header == nil && (newAPI || replace) {
		header, _ = copyHeader(req.Header)
	}
	if header != nil {
		r.Header = header
		if newAPI {
			header[tokenHeader] = tok.header[:]
		}
	}
	resp, err := t.base().RoundTrip(r)
	return t.finish(req, resp, err, tok.token.Value)
}

// forward sends req without a token of ours, over https if upgrade; secrets
// are the caller's own tokens, kept out of errors.
func (t *Transport) forward(req *http.Request, upgrade bool, secrets []string) (*http.Response, error) {
	r := req
	if upgrade {
		c := &requestCopy{req: *req, url: *req.URL}
		c.url.Scheme = "https"
		c.req.URL = &c.url
		r = &c.req
	}
	resp, err := t.base().RoundTrip(r)
	return t.finish(req, resp, err, secrets...)
}

// finish hands Base's answer to the caller: the response with the caller's
// own request in it, rather than the copy that carried a token, or the error
// without secrets.
func (t *Transport) finish(req *http.Request, resp *http.Response, err error, secrets ...string) (*http.Response, error) {
	if err != nil {
		if resp != nil && resp.Body != nil {
			// A Base that returns both (go-retryablehttp with an
			// ErrorHandler can) leaves the response to no one: the caller
			// gets only the error, as from http.Client.
			resp.Body.Close()
		}
		return nil, redactError(err, secrets...)
	}
	if resp == nil {
		return nil, fmt.Errorf("dingtoken: the base transport %T returned neither a response nor an error", t.base())
	}
	resp.Request = req
	return resp, nil
}

// requestCopy holds a shallow copy of a request and its URL, for requests
// whose URL changes: one allocation instead of two.
type requestCopy struct {
	req http.Request
	url url.URL
}

// isTokenHost reports whether host is one of t's Hosts.
func (t *Transport) isTokenHost(host string) bool {
	hosts := t.Hosts
	if hosts == nil {
		hosts = DefaultHosts
	}
	for _, h := range hosts {
		if h == host { // as most requests spell it: no case folding
			return true
		}
	}
	for _, h := range hosts {
		if strings.EqualFold(h, host) {
			return true
		}
	}
	return false
}

// hostname is u.Hostname(), found with one quick search for the usual host
// with neither a port nor brackets.
func hostname(u *url.URL) string {
	if h := u.Host; strings.IndexByte(h, ':') < 0 && !strings.HasPrefix(h, "[") {
		return h
	}
	return u.Hostname()
}

func (t *Transport) manager() *Manager {
	if t.Manager == nil {
		return DefaultManager
	}
	return t.Manager
}

// startupTransport is http.DefaultTransport as it was when the program
// started.
var startupTransport = http.DefaultTransport

func (t *Transport) base() http.RoundTripper {
	if t.Base != nil {
		return t.Base
	}
	// A program that makes this Transport http.DefaultTransport, so that
	// every client in the process sends DingTalk a token, must not send its
	// requests to itself forever.
	if rt := http.DefaultTransport; rt != http.RoundTripper(t) {
		return rt
	}
	return startupTransport
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
// is buffered, up to MaxReplayBody; if the request's context ends first,
// the body is closed and the context's error returned.
func replayableBody(req *http.Request) (first io.ReadCloser, replay func() (io.ReadCloser, error), err error) {
	if req.Body == nil || req.Body == http.NoBody {
		return req.Body, noBody, nil
	}
	if req.GetBody != nil {
		return req.Body, req.GetBody, nil
	}
	// A streamed body may stall. net/http gives up on a request whose
	// context ends while it sends the body, closing the body from another
	// goroutine as HTTP/2 does; reading it here must give up the same way.
	ctx := req.Context()
	stop := context.AfterFunc(ctx, func() { req.Body.Close() })
	buf, err := io.ReadAll(io.LimitReader(req.Body, MaxReplayBody+1))
	if !stop() {
		return nil, nil, ctx.Err() // the body is closed, by the AfterFunc
	}
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
