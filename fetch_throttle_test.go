package dingtoken

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/dingtoken/dingtoken/dingtalktest"
)

// throttleBody is a new-API error answer with code.
func throttleBody(code string) string {
	return `{"code":"` + code + `","message":"您的企业应用调用钉钉开放平台当前接口的所有请求都被暂时禁用了","requestid":"req-1"}`
}

// TestThrottledTokenRequestIsRetriedAfterASecond: DingTalk's per-second
// limits (docs/01-应用开发/02-4a8AMF6u2A-服务端API/1433-how-to-process-api-throttling-on-the-dingtalk-server.md:
// the legacy 90018 and 90002 in an HTTP 200 answer, the new API's 403
// Forbidden.AccessDenied.QpsLimitFor*) pass within a second, and DingTalk
// says to wait a second and call again: the fetch does so, once the second
// has passed, instead of failing. A per-minute limit is not waited out
// within a fetch, and no throttling is taken for bad credentials.
func TestThrottledTokenRequestIsRetriedAfterASecond(t *testing.T) {
	tests := []struct {
		name      string
		legacy    bool
		fault     dingtalktest.Fault
		wantToken bool
		wantSent  int
	}{
		{"legacy 90018", true, dingtalktest.Fault{Body: `{"errcode":90018,"errmsg":"当前应用调用当前接口的请求超过了限制"}`}, true, 2},
		{"legacy 90002", true, dingtalktest.Fault{Body: `{"errcode":90002,"errmsg":"您的服务器调用钉钉开放平台当前接口的所有请求都被暂时禁用了"}`}, true, 2},
		{"new 403 QpsLimitForAppkeyAndApi", false, dingtalktest.Fault{Status: 403, Body: throttleBody("Forbidden.AccessDenied.QpsLimitForAppkeyAndApi")}, true, 2},
		{"new 403 QpsLimitForApi", false, dingtalktest.Fault{Status: 403, Body: throttleBody("Forbidden.AccessDenied.QpsLimitForApi")}, true, 2},
		{"new 403 QpsLimitForSuitekeyAndOrgAndApi", false, dingtalktest.Fault{Status: 403, Body: throttleBody("Forbidden.AccessDenied.QpsLimitForSuitekeyAndOrgAndApi")}, true, 2},
		{"new 403 QpmLimitForAppkeyAndApi", false, dingtalktest.Fault{Status: 403, Body: throttleBody("Forbidden.AccessDenied.QpmLimitForAppkeyAndApi")}, false, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv := newSim(t)
			srv.FailTokenRequests(1, tt.fault)
			client, sent := newTimedRetryClient(t)
			var f Fetcher = &AppCredentials{ClientID: testClientID, ClientSecret: testSecret, Endpoint: srv.URL, HTTPClient: client}
			if tt.legacy {
				f = &LegacyAppCredentials{AppKey: testClientID, AppSecret: testSecret, Endpoint: srv.URL, HTTPClient: client}
			}
			tok, err := f.Fetch(context.Background())
			if got := tok.Value != ""; got != tt.wantToken {
				t.Fatalf("got a token: %v (err %v), want %v", got, err, tt.wantToken)
			}
			if err != nil {
				var ae *APIError
				if !errors.As(err, &ae) || errors.Is(err, ErrInvalidCredentials) {
					t.Errorf("err = %v, want an *APIError that is not ErrInvalidCredentials", err)
				}
				assertNoSecret(t, "error", err.Error(), testSecret)
			}
			if got := srv.Fetches(testClientID); got != tt.wantSent {
				t.Errorf("token endpoint called %d times, want %d", got, tt.wantSent)
			}
			for i, gap := range sent.gaps() {
				if gap < time.Second {
					t.Errorf("retry %d sent %v after the throttled request, want at least 1s", i+1, gap)
				}
			}
		})
	}
}
