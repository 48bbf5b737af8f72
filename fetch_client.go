package dingtoken

import (
	"bytes"
	"context"
	"io"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/go-retryablehttp"
)

// Retry limits of the client [NewRetryClient] builds: at most
// TokenRetryMax retries. Before retry n (from 0) it waits a random time in
// the upper half of TokenRetryWaitMin<<n, a step TokenRetryWaitMax caps:
// 0.25–0.5 s, 0.5–1 s and 1–2 s, 1.75–3.5 s in all. A 429 or 503 with
// Retry-After (seconds or an HTTP date) waits that long if it is longer,
// and is not retried when it asks for more than 10 s or for more than the
// request's context has left; a per-second limit waits at least 1 s.
const (
	TokenRetryMax     = 3
	TokenRetryWaitMin = 500 * time.Millisecond
	TokenRetryWaitMax = 2500 * time.Millisecond

	// maxRetryAfter caps how long a Retry-After header can make us wait.
	maxRetryAfter = 10 * time.Second
)

// NewRetryClient returns the HTTP client the credentials types use for
// DingTalk's token endpoints when their HTTPClient is nil, sending through
// base (nil: a pooled transport of its own).
//
// It retries network errors, HTTP 5xx (but 501) and 429, the legacy
// errcode -1 ("system busy") and DingTalk's per-second limits (90018,
// 90002, 403 Forbidden.AccessDenied.QpsLimitFor*), with jittered
// exponential backoff that honours Retry-After. It never retries bad
// credentials, and it logs nothing.
func NewRetryClient(base http.RoundTripper) *http.Client {
	c := retryablehttp.NewClient()
	c.Logger = nil // the default logger prints every request to stderr
	c.RetryMax = TokenRetryMax
	c.RetryWaitMin = TokenRetryWaitMin
	c.RetryWaitMax = TokenRetryWaitMax
	c.CheckRetry = retryTokenRequest
	c.Backoff = tokenBackoff
	// Hand the last answer to the caller, which turns it into an APIError,
	// instead of retryablehttp's "giving up" error that quotes the URL.
	c.ErrorHandler = retryablehttp.PassthroughErrorHandler
	if base != nil {
		c.HTTPClient.Transport = base
	}
	// Redirects go up to the outer client, where the credentials types
	// check each one; followed down here, they would not be seen.
	c.HTTPClient.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return &http.Client{Transport: retryTransport{&retryablehttp.RoundTripper{Client: c}}}
}

// retryTransport lets http.Client.CloseIdleConnections reach the pooled
// connections underneath the retries.
type retryTransport struct{ *retryablehttp.RoundTripper }

func (t retryTransport) CloseIdleConnections() { t.Client.HTTPClient.CloseIdleConnections() }

var defaultRetryClient = sync.OnceValue(func() *http.Client { return NewRetryClient(nil) })

// retryTokenRequest is a [retryablehttp.CheckRetry]: the default policy,
// plus the legacy endpoint's errcode -1 ("system busy", with HTTP 200) and
// DingTalk's per-second limits (throttleCodes). A Retry-After the fetch
// could not wait out, longer than maxRetryAfter or than what is left of
// ctx, ends the retries: the caller gets DingTalk's answer at once rather
// than a bare deadline error, and DingTalk no request it asked not to get.
func retryTokenRequest(ctx context.Context, resp *http.Response, err error) (bool, error) {
	retry, rerr := retryablehttp.DefaultRetryPolicy(ctx, resp, err)
	if retry && resp != nil {
		if d, ok := retryAfter(resp); ok {
			return canWait(ctx, d), nil
		}
	}
	if retry || rerr != nil || resp == nil || (resp.StatusCode != http.StatusOK && resp.StatusCode != http.StatusForbidden) {
		return retry, rerr
	}
	raw, readErr := io.ReadAll(io.LimitReader(resp.Body, maxTokenResponse+1))
	resp.Body.Close()
	// The caller reads the same bytes again; a read error surfaces there.
	body := &readBody{Reader: io.MultiReader(bytes.NewReader(raw), errReader{readErr})}
	resp.Body = body
	if readErr != nil {
		return false, nil
	}
	decoded, err := decodeTokenBody(resp, raw)
	if err != nil {
		return false, nil // the caller meets the same error
	}
	apiErr := parseAPIError(resp.StatusCode, decoded)
	switch {
	case apiErr == nil:
		return false, nil
	case apiErr.Code == "-1" && resp.StatusCode == http.StatusOK:
		return true, nil
	case throttleCodes[apiErr.Code]:
		body.throttled = true
		return canWait(ctx, throttleWait), nil
	}
	return false, nil
}

// throttleCodes are the codes with which DingTalk says that too many calls
// to an endpoint came within one second, and that a call a second later
// goes through: "因为qps限流限制时间是1秒，所以当遇到限流错误时，可以在程序中sleep
// 1秒，然后继续执行" (docs/01-应用开发/02-4a8AMF6u2A-服务端API/1433-how-to-process-api-throttling-on-the-dingtalk-server.md).
// The legacy codes come with HTTP 200, the new ones with 403
// (docs/01-应用开发/02-4a8AMF6u2A-服务端API/0013-server-api-error-codes-1.md).
// Per-minute limits (QpmLimit*) are left to the Manager's backoff.
var throttleCodes = map[string]bool{
	"90018": true, // this app, this endpoint
	"90002": true, // every caller together, this endpoint
	"Forbidden.AccessDenied.QpsLimitForAppkeyAndApi":         true,
	"Forbidden.AccessDenied.QpsLimitForApi":                  true,
	"Forbidden.AccessDenied.QpsLimitForSuitekeyAndOrgAndApi": true,
}

// throttleWait is the least wait before a retry after a throttleCodes
// answer: DingTalk's limits count calls per second.
const throttleWait = time.Second

// readBody is a response body retryTokenRequest read and put back, with
// what it found in it for tokenBackoff.
type readBody struct {
	io.Reader
	throttled bool // a throttleCodes answer
}

func (*readBody) Close() error { return nil }

// canWait reports whether a wait of d before a retry is one to make: at
// most maxRetryAfter, and over before ctx's deadline.
func canWait(ctx context.Context, d time.Duration) bool {
	if d > maxRetryAfter {
		return false
	}
	deadline, ok := ctx.Deadline()
	return !ok || time.Until(deadline) > d
}

// errReader returns err (or io.EOF when nil) from every Read.
type errReader struct{ err error }

func (r errReader) Read([]byte) (int, error) {
	if r.err != nil {
		return 0, r.err
	}
	return 0, io.EOF
}

// retryAfter returns the wait the Retry-After header of a 429 or 503 asks
// for, in seconds or as an HTTP date (RFC 9110, 10.2.3); a date already
// past asks for none.
func retryAfter(resp *http.Response) (time.Duration, bool) {
	if resp.StatusCode != http.StatusTooManyRequests && resp.StatusCode != http.StatusServiceUnavailable {
		return 0, false
	}
	v := strings.TrimSpace(resp.Header.Get("Retry-After"))
	if s, err := strconv.ParseInt(v, 10, 64); err == nil && s >= 0 {
		// Capped at a day, which keeps the product from overflowing:
		// longer means the same, no retry.
		return time.Duration(min(s, 86400)) * time.Second, true
	}
	if at, err := http.ParseTime(v); err == nil {
		return max(time.Until(at), 0), true
	}
	return 0, false
}

// tokenBackoff is a [retryablehttp.Backoff]: exponential with jitter in the
// upper half of each step, so that replicas retrying together spread out;
// longer when DingTalk asks for longer, by Retry-After with a 429 or 503
// (retryTokenRequest has made sure it is at most maxRetryAfter) or by a
// per-second limit. A Retry-After of 0 or a date past does not make the
// retries come back to back.
func tokenBackoff(lo, hi time.Duration, attempt int, resp *http.Response) time.Duration {
	step := lo << attempt
	if step <= 0 || step > hi {
		step = hi
	}
	wait := step/2 + rand.N(step/2+1)
	if resp == nil {
		return wait
	}
	if d, ok := retryAfter(resp); ok {
		wait = max(wait, min(d, maxRetryAfter))
	}
	if b, ok := resp.Body.(*readBody); ok && b.throttled {
		wait = max(wait, throttleWait)
	}
	return wait
}
