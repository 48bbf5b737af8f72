package dingtoken

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"testing"
	"time"
)

func TestTokenNeverPrintsItsValue(t *testing.T) {
	tok := Token{Value: "tok-4e1f9a7c", Expiry: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
	logger, logs := newLogger()
	logger.Info("got", "token", tok)
	for _, got := range []string{
		fmt.Sprint(tok), fmt.Sprintf("%v", tok), fmt.Sprintf("%+v", tok), fmt.Sprintf("%#v", tok),
		fmt.Sprintf("%s", tok), fmt.Sprintf("%v", &tok), logs.String(),
	} {
		assertNoSecret(t, "formatted token", got, tok.Value)
		if !strings.Contains(got, "REDACTED") || !strings.Contains(got, "2026-01-02") {
			t.Errorf("formatted token %q should show REDACTED and the expiry", got)
		}
	}
	if got := (Token{}).String(); strings.Contains(got, "REDACTED") {
		t.Errorf("empty token %q should not claim a redacted value", got)
	}
}

func TestParseAPIError(t *testing.T) {
	tests := []struct {
		name   string
		status int
		body   string
		want   *APIError // nil: no error
	}{
		{"legacy success", 200, `{"errcode":0,"errmsg":"ok"}`, nil},
		{"new success", 200, `{"result":{}}`, nil},
		{"legacy bad token", 200, `{"errcode":40014,"errmsg":"不合法的access_token","request_id":"r1"}`,
			&APIError{StatusCode: 200, Code: "40014", Message: "不合法的access_token", RequestID: "r1"}},
		{"legacy sub_code as string", 200, `{"errcode":88,"sub_code":"40014","errmsg":"ding talk error","sub_msg":"不合法的access_token"}`,
			&APIError{StatusCode: 200, Code: "88", SubCode: "40014", Message: "ding talk error (不合法的access_token)"}},
		{"legacy sub_code as number", 200, `{"errcode":88,"sub_code":42001,"errmsg":"x"}`,
			&APIError{StatusCode: 200, Code: "88", SubCode: "42001", Message: "x"}},
		{"new API", 400, `{"code":"InvalidAuthentication","message":"不合法的access_token","requestid":"R2"}`,
			&APIError{StatusCode: 400, Code: "InvalidAuthentication", Message: "不合法的access_token", RequestID: "R2"}},
		{"HTML error page", 403, `<html><body>denied</body></html>`,
			&APIError{StatusCode: 403, Message: "HTML page of 32 bytes"}},
		{"non-JSON success", 200, `hello`, nil},
		{"JSON 5xx without code", 502, `{}`, &APIError{StatusCode: 502}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := parseAPIError(tt.status, []byte(tt.body))
			if (got == nil) != (tt.want == nil) || (got != nil && *got != *tt.want) {
				t.Errorf("parseAPIError = %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestRedactErrorKeepsTheChain(t *testing.T) {
	const secret = "sekrit-123"
	inner := fmt.Errorf("dial failed for ?appsecret=%s: %w", secret, errors.ErrUnsupported)
	err := redactError(&url.Error{Op: "Get", URL: "https://oapi.dingtalk.com/gettoken?appsecret=" + secret, Err: inner}, secret)
	assertNoSecret(t, "redacted error", err.Error(), secret)
	if !errors.Is(err, errors.ErrUnsupported) {
		t.Errorf("errors.Is lost the wrapped error: %v", err)
	}
	var ue *url.Error
	if !errors.As(err, &ue) || strings.Contains(ue.URL, secret) {
		t.Errorf("errors.As(*url.Error) = %v with URL %q, want a redacted *url.Error", ue, ue.URL)
	}
	for e := error(ue); e != nil; e = errors.Unwrap(e) {
		assertNoSecret(t, "wrapped error", e.Error(), secret)
	}
	plain := errors.New("no secret here")
	if got := redactError(plain, secret); got != plain {
		t.Errorf("an error without secrets should come back unchanged, got %v", got)
	}
}

func TestFetcherFunc(t *testing.T) {
	f := FetcherFunc("custom:1", func(ctx context.Context) (Token, error) { return Token{Value: "v"}, nil })
	if got, want := f.Key(), "custom:1"; got != want {
		t.Errorf("Key() = %q, want %q", got, want)
	}
	if tok, _ := f.Fetch(context.Background()); tok.Value != "v" {
		t.Errorf("Fetch() = %v", tok)
	}
}

var _ slog.LogValuer = Token{}
