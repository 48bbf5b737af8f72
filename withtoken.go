package dingtoken

import (
	"context"
	"reflect"
)

// WithToken calls call with a valid token for f, for SDKs that take a token
// string rather than an http.Client. When call's error says DingTalk rejected
// that token (see [IsTokenRejected]), WithToken drops the token as a
// [Transport] does, gets a fresh one and calls call once more, never twice.
// It returns call's last error, or the Manager's if no token could be had.
//
// call's error comes back with the token scrubbed from its text, as a
// Transport scrubs its base's errors: an SDK that puts the token in a legacy
// URL fails with a *url.Error quoting it. A *url.Error stays one, with the
// token REDACTED in its URL, and a net.Error stays one; errors.Is still
// finds the sentinels it wraps. An error of another type that quotes the
// token, or wraps one that does, is replaced by a copy of its text without
// it, which errors.As no longer finds as that type: an error that shows no
// token comes back as it is.
func (m *Manager) WithToken(ctx context.Context, f Fetcher, call func(ctx context.Context, token string) error) error {
	e, err := m.entry(ctx, f)
	if err != nil {
		return err
	}
	// IsTokenRejected reads call's own error: scrubbing may replace an
	// error that quotes the token, codes and all.
	if err = callWith(ctx, e, call); !IsTokenRejected(err) || !m.invalidateReported(ctx, f, e.token.Value, err) {
		return redactError(err, e.token.Value)
	}
	fresh, err := m.entry(ctx, f)
	if err != nil {
		return err
	}
	m.retried(ctx, f)
	if err = callWith(ctx, fresh, call); IsTokenRejected(err) {
		// As for a Transport: drops the fresh token, or damps the chain.
		m.invalidateReported(ctx, f, fresh.token.Value, err)
	}
	return redactError(err, e.token.Value, fresh.token.Value)
}

// invalidateReported is invalidate, telling the hooks what rejected the
// token: the API and code that err, a rejection, carries.
func (m *Manager) invalidateReported(ctx context.Context, f Fetcher, stale string, err error) bool {
	dropped := m.invalidate(ctx, f, stale)
	if h := m.Hooks; h != nil && h.TokenRejected != nil {
		status, code, _ := rejectionOf(err)
		api := "new"
		if status == 0 || status == 200 {
			api = "legacy"
		}
		h.TokenRejected(TokenRejectedInfo{Context: ctx, Key: m.state(f).key, API: api, Status: status, Code: code, Dropped: dropped})
	}
	return dropped
}

// callWith calls call with e's token, recording that DingTalk took it when
// call succeeds.
func callWith(ctx context.Context, e *entry, call func(ctx context.Context, token string) error) error {
	err := call(ctx, e.token.Value)
	if err == nil {
		e.accept()
	}
	return err
}

// IsTokenRejected reports whether err, or any error it wraps, says DingTalk
// rejected the access token, by the rule a [Transport] applies to answers:
// legacy errcode 40014, 42001 or 40001, or 42009 or 40082 for a suite token
// (or 88 with 40014 or 42001 as sub_code), or the new API's
// InvalidAuthentication with HTTP 400 or 401, or Unauthorized with HTTP 401.
//
// It recognises an [*APIError] and, without importing them, the errors of the
// official DingTalk SDK's runtime: tea's SDKError and darabonba-openapi's
// ClientError, or any error struct with a Code (string or *string) and a
// StatusCode (int or *int) field.
func IsTokenRejected(err error) bool {
	_, _, ok := rejectionOf(err)
	return ok
}

// rejectionOf finds in err's chain the error that says DingTalk rejected the
// token, and returns its HTTP status and DingTalk's code.
func rejectionOf(err error) (status int, code string, ok bool) {
	for err != nil {
		if status, code, subCode, found := codesOf(err); found &&
			(rejectedTokenCode(status, code, subCode) || isSuiteTokenRejectionCode(status, code)) {
			return status, code, true
		}
		switch u := err.(type) {
		case interface{ Unwrap() error }:
			err = u.Unwrap()
		case interface{ Unwrap() []error }:
			for _, e := range u.Unwrap() {
				if status, code, ok := rejectionOf(e); ok {
					return status, code, true
				}
			}
			return 0, "", false
		default:
			return 0, "", false
		}
	}
	return 0, "", false
}

// codesOf returns the HTTP status and DingTalk codes that err itself, not
// what it wraps, carries: an *APIError's, or those of an error struct with a
// Code and a StatusCode field.
func codesOf(err error) (status int, code, subCode string, ok bool) {
	if e, isAPI := err.(*APIError); isAPI {
		return e.StatusCode, e.Code, e.SubCode, true
	}
	v := reflect.ValueOf(err)
	for v.Kind() == reflect.Pointer || v.Kind() == reflect.Interface {
		if v.IsNil() {
			return 0, "", "", false
		}
		v = v.Elem()
	}
	if v.Kind() != reflect.Struct {
		return 0, "", "", false
	}
	if code, ok = stringField(v, "Code"); !ok {
		return 0, "", "", false
	}
	status, ok = intField(v, "StatusCode")
	return status, code, "", ok
}

// stringField returns v's field name if it is a string or a non-nil *string.
func stringField(v reflect.Value, name string) (string, bool) {
	f := field(v, name)
	if f.Kind() == reflect.Pointer {
		if f.IsNil() {
			return "", false
		}
		f = f.Elem()
	}
	if f.Kind() != reflect.String {
		return "", false
	}
	return f.String(), true
}

// intField returns v's field name if it is an integer or a pointer to one;
// a nil pointer (a status the SDK did not record) is 0.
func intField(v reflect.Value, name string) (int, bool) {
	f := field(v, name)
	if f.Kind() == reflect.Pointer {
		if f.IsNil() {
			return 0, isInt(f.Type().Elem().Kind())
		}
		f = f.Elem()
	}
	if isInt(f.Kind()) {
		return int(f.Int()), true
	}
	return 0, false
}

// field returns v's field name, or the zero Value when v has none or it sits
// behind a nil embedded pointer, where FieldByName would panic.
func field(v reflect.Value, name string) reflect.Value {
	sf, ok := v.Type().FieldByName(name)
	if !ok {
		return reflect.Value{}
	}
	f, err := v.FieldByIndexErr(sf.Index)
	if err != nil {
		return reflect.Value{}
	}
	return f
}

func isInt(k reflect.Kind) bool {
	switch k {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return true
	}
	return false
}
