package dingtoken

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"
)

// Token is a DingTalk access token and the moment it stops being valid.
//
// Its String, GoString, Format and LogValue methods never show Value, so a
// Token can be printed or logged without leaking it.
type Token struct {
	Value  string    // the token as DingTalk issued it
	Expiry time.Time // when it stops being valid; for a fetched token, counted from the moment its fetch started
}

// String describes t without its value.
func (t Token) String() string {
	return fmt.Sprintf("dingtoken.Token{Value: %s, Expiry: %s}", redactedValue(t.Value), t.Expiry.Format(time.RFC3339))
}

// GoString is used by %#v; it redacts the value like String.
func (t Token) GoString() string { return t.String() }

// Format prints t as String does for every verb, %d included.
func (t Token) Format(s fmt.State, verb rune) { formatRedacted(s, verb, t.String(), t.GoString()) }

// LogValue makes slog print the expiry and a redacted value.
func (t Token) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("value", redactedValue(t.Value)),
		slog.Time("expiry", t.Expiry),
	)
}

// validAt reports whether t has a value and has not expired at now.
func (t Token) validAt(now time.Time) bool {
	return t.Value != "" && now.Before(t.Expiry)
}

func redactedValue(v string) string {
	if v == "" {
		return `""`
	}
	return redacted
}

// Fetcher gets fresh access tokens from DingTalk for one set of credentials.
type Fetcher interface {
	// Key names the token in caches; fetchers with the same Key share one
	// token. It must not change over the fetcher's life (the credential
	// types of this package may have their IDs set again: they then get
	// the new key's token). It is not secret.
	Key() string
	// Fetch asks DingTalk for a token. The Manager calls it at most once at a
	// time per Key, with a context detached from any single caller.
	Fetch(ctx context.Context) (Token, error)
}

// FetcherFunc returns a [Fetcher] with the given cache key that calls fetch.
// It adapts any token source, such as a test's or another SDK's, to the
// [Manager].
func FetcherFunc(key string, fetch func(ctx context.Context) (Token, error)) Fetcher {
	return &funcFetcher{key: key, fetch: fetch}
}

type funcFetcher struct {
	key   string
	fetch func(context.Context) (Token, error)
	slot  fetcherSlot
}

func (f *funcFetcher) Key() string                              { return f.key }
func (f *funcFetcher) Fetch(ctx context.Context) (Token, error) { return f.fetch(ctx) }

var (
	// ErrInvalidCredentials matches an [APIError] from a token endpoint that
	// says the app key, secret, suite ticket or corp is wrong. Retrying does
	// not help.
	ErrInvalidCredentials = errors.New("dingtoken: invalid credentials")

	// ErrMalformedResponse means a token endpoint answered with something
	// that is not a token: not JSON, too large, or without a token in it.
	ErrMalformedResponse = errors.New("dingtoken: malformed token response")

	// ErrFetchPanicked is wrapped by the error every waiter gets when a
	// [Fetcher] panics; the panic does not reach the caller's goroutine.
	ErrFetchPanicked = errors.New("dingtoken: fetcher panicked")
)

// APIError is an error answer from DingTalk, in either of its body shapes:
// the legacy {"errcode", "errmsg", "sub_code"} and the new API's
// {"code", "message", "requestid"}.
type APIError struct {
	StatusCode int    // the HTTP status
	Code       string // the new API's code, or the legacy errcode in decimal, such as "40014"
	SubCode    string // the legacy sub_code, if any
	Message    string // DingTalk's message
	RequestID  string // DingTalk's request id, for support tickets

	kind error // a sentinel such as ErrInvalidCredentials, set where the context tells
}

// Error describes the answer; it never holds a token or secret, since
// DingTalk does not echo them.
func (e *APIError) Error() string {
	msg := fmt.Sprintf("dingtoken: DingTalk answered HTTP %d", e.StatusCode)
	if e.Code != "" {
		msg += ", code " + e.Code
	}
	if e.SubCode != "" {
		msg += ", sub_code " + e.SubCode
	}
	if e.Message != "" {
		msg += ": " + e.Message
	}
	if e.RequestID != "" {
		msg += " (request id " + e.RequestID + ")"
	}
	return msg
}

// Unwrap returns the sentinel the error is known to match, such as
// [ErrInvalidCredentials], so that errors.Is works.
func (e *APIError) Unwrap() error { return e.kind }
