package dingtoken

import (
	"context"
	"errors"
	"net"
	"net/http"
	"time"
)

// Hooks observe what a [Manager], and the Transports that use it, do, in the
// style of net/http/httptrace: set the functions you need on
// Manager.Hooks. A nil Hooks or a nil function costs nothing; a cache hit
// stays free of allocation either way.
//
// Hooks run on the goroutine where the event happens, so they must return
// quickly and be safe for concurrent use. They are never given a token, a
// secret or a ticket: keys, codes, counts and durations only. Contexts are
// given where an event belongs to a caller's request, for span events; the
// request itself is not, since it carries the token.
type Hooks struct {
	// TokenServed is called when a token is handed out from memory (L1) or
	// adopted from the Store (L2).
	TokenServed func(TokenServedInfo)
	// FetchStart and FetchDone bracket each call to DingTalk's token
	// endpoint, that is, to a Fetcher.
	FetchStart func(FetchStartInfo)
	FetchDone  func(FetchDoneInfo)
	// LockWaited is called when another process held the cluster refresh
	// lock and this one waited for it.
	LockWaited func(LockWaitInfo)
	// TokenRejected is called when DingTalk rejects a token a Transport
	// sent, or one a call of [Manager.WithToken] used.
	TokenRejected func(TokenRejectedInfo)
	// Retried is called when a Transport sends a request again with a fresh
	// token, or WithToken calls its function again with one.
	Retried func(RetriedInfo)
	// StoreError is called when a Store or Locker call fails.
	StoreError func(StoreErrorInfo)
	// BackgroundRefresh is called when a refresh starts ahead of expiry while
	// callers keep using the current token.
	BackgroundRefresh func(BackgroundRefreshInfo)
}

// TokenSource says where a token was served from.
type TokenSource uint8

// Where a token can be served from.
const (
	FromMemory TokenSource = iota + 1 // L1, this process's memory
	FromStore                         // L2, the shared Store
)

// String returns "memory" or "store".
func (s TokenSource) String() string {
	switch s {
	case FromMemory:
		return "memory"
	case FromStore:
		return "store"
	}
	return "unknown"
}

// TokenServedInfo describes a token handed out.
type TokenServedInfo struct {
	Key    string      // the Fetcher's key
	Source TokenSource // FromMemory or FromStore
}

// FetchStartInfo describes a fetch about to start.
type FetchStartInfo struct {
	// Context is the refresh's context: the values of the caller that
	// started it (such as its span), detached from its cancellation.
	Context    context.Context
	Key        string // the Fetcher's key
	Background bool   // a refresh ahead of expiry, with no caller waiting
}

// FetchDoneInfo describes a finished fetch.
type FetchDoneInfo struct {
	Context  context.Context // the refresh's, as in FetchStartInfo
	Key      string          // the Fetcher's key
	Duration time.Duration   // how long the fetch took
	// Err is the class of the failure, or "" after a success. The error
	// itself is not given: a Fetcher of your own may have put a secret in it.
	Err ErrorClass
	// Code is DingTalk's error code when it answered with one, such as
	// "invalidClientIdOrSecret" or "-1".
	Code string
}

// LockWaitInfo describes a wait for another process's refresh.
type LockWaitInfo struct {
	Key      string        // the Fetcher's key
	Duration time.Duration // how long this process waited
	// Outcome is how the wait ended: "token" (the holder's token appeared),
	// or, when this process then fetched on its own, "lock" (the lock went
	// without a token), "store_error" or "timeout" (the lock outlived its TTL).
	Outcome string
}

// TokenRejectedInfo describes DingTalk rejecting a token.
type TokenRejectedInfo struct {
	Context context.Context // the request's, or the one given to WithToken
	Key     string          // the Fetcher's key
	API     string          // "new" (api.dingtalk.com /v1.0, /v2.0) or "legacy"
	Status  int             // the HTTP status
	Code    string          // DingTalk's code, such as "40014" or "InvalidAuthentication"
	// Dropped is true when the token was dropped and the request will be
	// retried; false when the rejection was damped: the token fetched to
	// replace a rejected one was rejected too, so DingTalk's answer is
	// passed on as it is.
	Dropped bool
}

// RetriedInfo describes a request sent again with a fresh token.
type RetriedInfo struct {
	Context context.Context // the request's, or the one given to WithToken
	Key     string          // the Fetcher's key
}

// StoreErrorInfo describes a failed Store or Locker call.
type StoreErrorInfo struct {
	Key     string // the key the call was for: a Fetcher's, or "jsapi-seen:" and a JSAPITicket App's
	Op      string // "load", "save", "delete", "lock"
	Timeout bool   // the call timed out; the Store is skipped for a short while
}

// BackgroundRefreshInfo describes a refresh started ahead of expiry.
type BackgroundRefreshInfo struct {
	Key string // the Fetcher's key
}

// ErrorClass sorts fetch failures without quoting them.
type ErrorClass string

// The classes of fetch failures.
const (
	ErrClassInvalidCredentials ErrorClass = "invalid_credentials" // ErrInvalidCredentials
	ErrClassMalformed          ErrorClass = "malformed_response"  // ErrMalformedResponse
	ErrClassDingTalk           ErrorClass = "dingtalk_error"      // any other *APIError
	ErrClassTimeout            ErrorClass = "timeout"             // the refresh or a network call timed out
	ErrClassCanceled           ErrorClass = "canceled"            // context.Canceled
	ErrClassNetwork            ErrorClass = "network"             // a net.Error
	ErrClassPanic              ErrorClass = "panic"               // ErrFetchPanicked
	ErrClassOther              ErrorClass = "other"               // anything else
)

// classify returns err's class and DingTalk's code, if it carries one.
func classify(err error) (ErrorClass, string) {
	var apiErr *APIError
	code := ""
	if errors.As(err, &apiErr) {
		code = apiErr.Code
	}
	var netErr net.Error
	switch {
	case err == nil:
		return "", ""
	case errors.Is(err, ErrInvalidCredentials):
		return ErrClassInvalidCredentials, code
	case errors.Is(err, ErrMalformedResponse):
		return ErrClassMalformed, code
	case errors.Is(err, ErrFetchPanicked):
		return ErrClassPanic, code
	case apiErr != nil:
		return ErrClassDingTalk, code
	case errors.Is(err, context.DeadlineExceeded):
		return ErrClassTimeout, code
	case errors.Is(err, context.Canceled):
		return ErrClassCanceled, code
	case errors.As(err, &netErr):
		if netErr.Timeout() {
			return ErrClassTimeout, code
		}
		return ErrClassNetwork, code
	}
	return ErrClassOther, code
}

// isTimeout reports whether err is a timeout: a context deadline or a
// network timeout.
func isTimeout(err error) bool {
	var netErr net.Error
	return errors.Is(err, context.DeadlineExceeded) || errors.As(err, &netErr) && netErr.Timeout()
}

// reportRejection tells the hooks that DingTalk rejected a token of f's in
// resp, a response inspectResponse has read, and whether it was dropped.
func (m *Manager) reportRejection(ctx context.Context, f Fetcher, resp *http.Response, newAPI, dropped bool) {
	h := m.Hooks
	if h == nil || h.TokenRejected == nil {
		return
	}
	api := "legacy"
	if newAPI {
		api = "new"
	}
	code := ""
	if pb, ok := resp.Body.(*peekedBody); ok {
		body := pb.prefix
		if hasGzipMagic(body) && isGzipEncoded(resp.Header) {
			body, _ = gunzip(body, maxInspect)
		}
		if e := parseAPIError(resp.StatusCode, trimBOM(body)); e != nil {
			code = e.Code
		}
	}
	h.TokenRejected(TokenRejectedInfo{Context: ctx, Key: m.state(f).key, API: api, Status: resp.StatusCode, Code: code, Dropped: dropped})
}

// retried counts a request sent again with a fresh token, and tells the hooks.
func (m *Manager) retried(ctx context.Context, f Fetcher) {
	m.stats.retries.Add(1)
	if h := m.Hooks; h != nil && h.Retried != nil {
		h.Retried(RetriedInfo{Context: ctx, Key: m.state(f).key})
	}
}
