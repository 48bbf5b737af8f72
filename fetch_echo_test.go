package dingtoken

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
)

// TestDingTalkErrorsQuotingTheRequestHideSecrets: a token endpoint (or a
// gateway before it) whose error message quotes the request it got, query
// or body, gives an *APIError that still says who answered what, without
// the secret or the suite ticket.
func TestDingTalkErrorsQuotingTheRequestHideSecrets(t *testing.T) {
	const (
		secret = "echoed-secret-5ec2e7"
		ticket = "echoed-ticket-71c4e7"
	)
	echo := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusForbidden)
		// What was asked, as a gateway's error page quotes it.
		msg, _ := json.Marshal("denied: " + r.URL.RawQuery + " " + string(body))
		io.WriteString(w, `{"code":"Forbidden.AccessDenied","message":`+string(msg)+`}`)
	}))
	t.Cleanup(echo.Close)
	ticketOf := func(context.Context) (string, error) { return ticket, nil }
	for _, tt := range []struct {
		name string
		f    Fetcher
	}{
		{"LegacyAppCredentials", &LegacyAppCredentials{AppKey: "k", AppSecret: secret, Endpoint: echo.URL}},
		{"AppCredentials", &AppCredentials{ClientID: "k", ClientSecret: secret, Endpoint: echo.URL}},
		{"CorpCredentials", &CorpCredentials{SuiteKey: "s", SuiteSecret: secret, AuthCorpID: "c", SuiteTicket: ticketOf, Endpoint: echo.URL}},
		{"SuiteCredentials", &SuiteCredentials{SuiteKey: "s", SuiteSecret: secret, SuiteTicket: ticketOf, Endpoint: echo.URL}},
		{"SuiteCredentials, Legacy", &SuiteCredentials{SuiteKey: "s", SuiteSecret: secret, SuiteTicket: ticketOf, Endpoint: echo.URL, Legacy: true}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, direct := tt.f.Fetch(context.Background())
			_, managed := (&Manager{}).Token(context.Background(), tt.f)
			for _, err := range []error{direct, managed} {
				var ae *APIError
				if !errors.As(err, &ae) || ae.StatusCode != http.StatusForbidden || ae.Code != "Forbidden.AccessDenied" {
					t.Fatalf("err = %v, want DingTalk's 403 as an *APIError", err)
				}
				assertNoSecret(t, "error", err.Error(), secret, ticket)
				assertNoSecret(t, "APIError.Message", ae.Message, secret, ticket)
			}
		})
	}
}
