package dingtoken

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// Where DingTalk's APIs live; the Endpoint fields default to these.
const (
	DefaultEndpoint       = "https://api.dingtalk.com"  // the new API (v1.0, v2.0)
	DefaultLegacyEndpoint = "https://oapi.dingtalk.com" // the legacy API
)

// AppCredentials fetch an internal app's token from the new API:
// POST {Endpoint}/v1.0/oauth2/accessToken.
//
// Use a pointer; the methods are on *AppCredentials so that the [Manager]
// finds its cache entry without building the key on every call.
type AppCredentials struct {
	ClientID     string // the app's Client ID (formerly AppKey)
	ClientSecret string // the app's Client Secret (formerly AppSecret)

	Endpoint   string       // if empty, DefaultEndpoint is used
	HTTPClient *http.Client // if nil, a client from NewRetryClient is used
	Logger     *slog.Logger // if nil, nothing is logged

	slot fetcherSlot
}

// Key returns "app:" and the client ID.
func (c *AppCredentials) Key() string { return "app:" + c.ClientID }

// Fetch gets a token from DingTalk.
func (c *AppCredentials) Fetch(ctx context.Context) (Token, error) {
	if err := required(c.Key(), "AppCredentials", "ClientID", c.ClientID, "ClientSecret", c.ClientSecret); err != nil {
		return Token{}, err
	}
	body := map[string]string{"appKey": c.ClientID, "appSecret": c.ClientSecret}
	return fetchJSON(ctx, c.HTTPClient, endpoint(c.Endpoint, DefaultEndpoint)+"/v1.0/oauth2/accessToken",
		body, c.Key(), c.Logger, c.ClientSecret)
}

// LegacyAppCredentials fetch an internal app's token from the legacy API:
// GET {Endpoint}/gettoken?appkey=&appsecret=. The token is the same one the
// new API hands out, so both kinds share the cache key "app:<AppKey>".
type LegacyAppCredentials struct {
	AppKey    string // the app's AppKey (now called Client ID)
	AppSecret string // the app's AppSecret (now called Client Secret)

	Endpoint   string       // if empty, DefaultLegacyEndpoint is used
	HTTPClient *http.Client // if nil, a client from NewRetryClient is used
	Logger     *slog.Logger // if nil, nothing is logged

	slot fetcherSlot
}

// Key returns "app:" and the app key.
func (c *LegacyAppCredentials) Key() string { return "app:" + c.AppKey }

// Fetch gets a token from DingTalk. The secret travels in the URL, so every
// error is scrubbed of it.
func (c *LegacyAppCredentials) Fetch(ctx context.Context) (Token, error) {
	if err := required(c.Key(), "LegacyAppCredentials", "AppKey", c.AppKey, "AppSecret", c.AppSecret); err != nil {
		return Token{}, err
	}
	q := url.Values{"appkey": {c.AppKey}, "appsecret": {c.AppSecret}}
	u := endpoint(c.Endpoint, DefaultLegacyEndpoint) + "/gettoken?" + q.Encode()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return Token{}, fetchError(c.Key(), err, c.AppSecret)
	}
	return doFetch(req, httpClient(c.HTTPClient), c.Key(), c.Logger, c.AppSecret)
}

// CorpCredentials fetch the token of a corp that authorised an ISV suite
// (a third-party app): POST {Endpoint}/v1.0/oauth2/corpAccessToken.
// Every fetch gets a new token from DingTalk.
type CorpCredentials struct {
	SuiteKey    string // the suite's Client ID (formerly SuiteKey)
	SuiteSecret string // the suite's Client Secret (formerly SuiteSecret)
	AuthCorpID  string // the corp that authorised the suite, whose token this is
	// SuiteTicket returns the latest suite ticket, which DingTalk pushes
	// every few hours; SuiteTickets.Ticket is one.
	SuiteTicket func(ctx context.Context) (string, error)

	Endpoint   string       // if empty, DefaultEndpoint is used
	HTTPClient *http.Client // if nil, a client from NewRetryClient is used
	Logger     *slog.Logger // if nil, nothing is logged

	slot fetcherSlot
}

// Key returns "corp:<SuiteKey>:<AuthCorpID>", with any ':' or '%' in the
// two IDs percent-escaped so that no two pairs share a key.
func (c *CorpCredentials) Key() string { return compositeKey("corp", c.SuiteKey, c.AuthCorpID) }

// Fetch gets a token from DingTalk, asking SuiteTicket for the ticket first.
func (c *CorpCredentials) Fetch(ctx context.Context) (Token, error) {
	if err := required(c.Key(), "CorpCredentials", "SuiteKey", c.SuiteKey, "SuiteSecret", c.SuiteSecret, "AuthCorpID", c.AuthCorpID); err != nil {
		return Token{}, err
	}
	if c.SuiteTicket == nil {
		return Token{}, fmt.Errorf("dingtoken: fetch %s: CorpCredentials.SuiteTicket is nil", c.Key())
	}
	return fetchWithSuiteTicket(ctx, c.Key(), c.SuiteSecret, c.SuiteTicket, func(ticket string) (Token, error) {
		body := map[string]string{
			"suiteKey": c.SuiteKey, "suiteSecret": c.SuiteSecret,
			"authCorpId": c.AuthCorpID, "suiteTicket": ticket,
		}
		return fetchJSON(ctx, c.HTTPClient, endpoint(c.Endpoint, DefaultEndpoint)+"/v1.0/oauth2/corpAccessToken",
			body, c.Key(), c.Logger, c.SuiteSecret, ticket)
	})
}

// fetchJSON POSTs body to a new-API token endpoint.
func fetchJSON(ctx context.Context, client *http.Client, u string, body map[string]string, key string, logger *slog.Logger, secrets ...string) (Token, error) {
	payload, err := json.Marshal(body)
	if err != nil {
		return Token{}, fetchError(key, err, secrets...)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, bytes.NewReader(payload))
	if err != nil {
		return Token{}, fetchError(key, err, secrets...)
	}
	req.Header.Set("Content-Type", "application/json")
	return doFetch(req, httpClient(client), key, logger, secrets...)
}

// doFetch sends a token request and reads its answer. Expiry counts from
// before the request went out, so a slow answer cannot make a token outlive
// what DingTalk granted. The credentials go only over https (plain http
// only to loopback), and only to the endpoint's host, redirects included.
func doFetch(req *http.Request, client *http.Client, key string, logger *slog.Logger, secrets ...string) (Token, error) {
	resp, start, err := sendTokenRequest(req, client)
	if err != nil {
		return Token{}, fetchError(key, err, secrets...)
	}
	value, expireIn, err := readTokenResponse(resp)
	if err != nil {
		return Token{}, fetchError(key, err, secrets...)
	}
	return newToken(value, expireIn, start, key, logger), nil
}

// sendTokenRequest sends a request that carries credentials, over https (or
// http to loopback) only, through a copy of client that follows no redirect
// off the endpoint's host. start is when it went out.
func sendTokenRequest(req *http.Request, client *http.Client) (resp *http.Response, start time.Time, err error) {
	if err := checkScheme(req.URL); err != nil {
		return nil, time.Time{}, err
	}
	start = time.Now()
	req.Header.Set("Accept", "application/json")
	resp, err = sameHostOnly(client).Do(req)
	return resp, start, err
}

// fetchError prefixes err with the key and scrubs the secrets from it. An
// APIError is returned as it is, so that errors.As finds it at the top,
// with its text scrubbed: a gateway before DingTalk, or DingTalk itself,
// may quote the request it refused, the secret in its query or body.
func fetchError(key string, err error, secrets ...string) error {
	var apiErr *APIError
	if errors.As(err, &apiErr) && apiErr == err {
		r := newRedactor(secrets)
		apiErr.Code, apiErr.SubCode = r.redact(apiErr.Code), r.redact(apiErr.SubCode)
		apiErr.Message, apiErr.RequestID = r.redact(apiErr.Message), r.redact(apiErr.RequestID)
		return err
	}
	err = redactError(err, secrets...)
	if strings.HasPrefix(err.Error(), "dingtoken: ") {
		return fmt.Errorf("dingtoken: fetch %s: %w", key, unprefixed{err})
	}
	return fmt.Errorf("dingtoken: fetch %s: %w", key, err)
}

// unprefixed prints a wrapped dingtoken error without its repeated prefix.
type unprefixed struct{ error }

func (u unprefixed) Error() string { return strings.TrimPrefix(u.error.Error(), "dingtoken: ") }
func (u unprefixed) Unwrap() error { return u.error }

func endpoint(configured, fallback string) string {
	if configured == "" {
		return fallback
	}
	return strings.TrimSuffix(configured, "/")
}

func httpClient(c *http.Client) *http.Client {
	if c == nil {
		return defaultRetryClient()
	}
	return c
}

// ErrUnsafeTokenRequest is wrapped by the error of a token request that
// would have sent credentials over plain http to a host other than
// loopback, or followed a redirect away from the endpoint's host. Nothing
// was sent there.
var ErrUnsafeTokenRequest = errors.New("dingtoken: unsafe token request")

// checkScheme refuses a URL that would carry credentials in the clear.
func checkScheme(u *url.URL) error {
	if u.Scheme == "https" || u.Scheme == "http" && isLoopback(u.Hostname()) {
		return nil
	}
	return fmt.Errorf("%w: refusing to send credentials over %s to %s; use https", ErrUnsafeTokenRequest, u.Scheme, u.Host)
}

// sameHostOnly returns a copy of c that follows a redirect only to the
// first request's host and port, over a scheme checkScheme allows, and then
// only if c's own CheckRedirect agrees. c itself is not modified: it may be
// shared with other code. A transport that follows redirects by itself is
// beyond reach; the one NewRetryClient builds leaves them to this client.
func sameHostOnly(c *http.Client) *http.Client {
	guarded := *c
	next := c.CheckRedirect
	guarded.CheckRedirect = func(req *http.Request, via []*http.Request) error {
		if from := via[0].URL; !sameHost(from, req.URL) {
			return fmt.Errorf("%w: refusing to follow a redirect from %s to %s", ErrUnsafeTokenRequest, from.Host, req.URL.Host)
		}
		if err := checkScheme(req.URL); err != nil {
			return err
		}
		if next != nil {
			return next(req, via)
		}
		if len(via) >= 10 { // net/http's default policy
			return errors.New("stopped after 10 redirects")
		}
		return nil
	}
	return &guarded
}

// sameHost reports whether a and b name the same host and port.
func sameHost(a, b *url.URL) bool {
	return strings.EqualFold(a.Hostname(), b.Hostname()) && effectivePort(a) == effectivePort(b)
}

func effectivePort(u *url.URL) string {
	if p := u.Port(); p != "" {
		return p
	}
	if u.Scheme == "http" {
		return "80"
	}
	return "443"
}
