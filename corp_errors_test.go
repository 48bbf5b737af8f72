package dingtoken

import (
	"context"
	"errors"
	"testing"

	"github.com/dingtoken/dingtoken/dingtalktest"
)

// TestCorpTokenDocumentedErrors: the codes with which corpAccessToken says
// the suite key is wrong, or the corp has not authorised the suite
// (docs/01-应用开发/02-4a8AMF6u2A-服务端API/0034-obtain-the-access-token-of-the-authorized-enterprise-1.md,
// 错误码: invalidSuiteKey, invalidSuiteTicket, invalidAuthInfo) are an
// *APIError with that code, matching ErrInvalidCredentials, asked once.
func TestCorpTokenDocumentedErrors(t *testing.T) {
	tests := []struct {
		name     string
		suiteKey string
		fault    *dingtalktest.Fault
		wantCode string
	}{
		{name: "unknown suite key", suiteKey: "suite-nobody-knows", wantCode: "invalidSuiteKey"},
		{name: "corp has not authorised the suite", suiteKey: testSuiteKey, wantCode: "invalidAuthInfo",
			fault: &dingtalktest.Fault{Status: 400, Body: `{"requestid":"5E2A0B9C","code":"invalidAuthInfo","message":"授权关系不存在"}`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := newISVSim(t)
			if tt.fault != nil {
				srv.FailTokenRequests(1, *tt.fault)
			}
			c := &CorpCredentials{SuiteKey: tt.suiteKey, SuiteSecret: testSuiteSecret, AuthCorpID: "ding-customer",
				SuiteTicket: ticketOf(srv), Endpoint: srv.URL}
			_, err := (&Manager{}).Token(context.Background(), c)
			var ae *APIError
			if !errors.As(err, &ae) || ae.Code != tt.wantCode || !errors.Is(err, ErrInvalidCredentials) {
				t.Fatalf("err = %v, want code %s matching ErrInvalidCredentials", err, tt.wantCode)
			}
			assertNoSecret(t, "error", err.Error(), testSuiteSecret, srv.SuiteTicket(testSuiteKey))
			if got := srv.Fetches(tt.suiteKey); got != 1 {
				t.Errorf("token requests %d, want 1 (not retried)", got)
			}
		})
	}
}
