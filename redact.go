package dingtoken

import (
	"net/url"
	"strings"
)

// redacted replaces secrets and tokens wherever the library prints text.
const redacted = "REDACTED"

// redactString replaces every non-empty secret in s.
func redactString(s string, secrets ...string) string {
	for _, secret := range secrets {
		if secret != "" {
			s = strings.ReplaceAll(s, secret, redacted)
		}
	}
	return s
}

func containsAny(s string, secrets []string) bool {
	for _, secret := range secrets {
		if secret != "" && strings.Contains(s, secret) {
			return true
		}
	}
	return false
}

// redactError returns err with every secret removed from its text and from
// the text of everything it wraps, keeping the chain intact for errors.Is and
// errors.As. An error that holds no secret is returned as it is.
//
// Errors from net/http and go-retryablehttp quote the request URL, and a
// legacy DingTalk URL carries the app secret or the access token in its query.
func redactError(err error, secrets ...string) error {
	if err == nil || !containsAny(err.Error(), secrets) {
		return err
	}
	if ue, ok := err.(*url.Error); ok {
		return &url.Error{Op: ue.Op, URL: redactString(ue.URL, secrets...), Err: redactError(ue.Err, secrets...)}
	}
	r := &redactedError{msg: redactString(err.Error(), secrets...)}
	switch u := err.(type) {
	case interface{ Unwrap() error }:
		if inner := u.Unwrap(); inner != nil {
			r.wrapped = []error{redactError(inner, secrets...)}
		}
	case interface{ Unwrap() []error }:
		for _, inner := range u.Unwrap() {
			r.wrapped = append(r.wrapped, redactError(inner, secrets...))
		}
	}
	return r
}

// redactedError stands in for an error whose text held a secret.
type redactedError struct {
	msg     string
	wrapped []error // the original's wrapped errors, redacted in turn
}

func (e *redactedError) Error() string   { return e.msg }
func (e *redactedError) Unwrap() []error { return e.wrapped }
