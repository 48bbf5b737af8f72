package dingtoken

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
)

// SuiteCredentials fetch the suite access token of an ISV suite (a
// third-party enterprise app), which calls the suite's own APIs such as
// getting a corp's authorisation info:
// POST {Endpoint}/v1.0/oauth2/suiteAccessToken, or with Legacy
// POST {Endpoint}/service/get_suite_token.
//
// Its cache key is "suite:<SuiteKey>". Use a pointer, as with AppCredentials.
type SuiteCredentials struct {
	SuiteKey    string // the suite's Client ID (formerly SuiteKey)
	SuiteSecret string // the suite's Client Secret (formerly SuiteSecret)
	// SuiteTicket returns the latest suite ticket, which DingTalk pushes
	// every few hours; SuiteTickets.Ticket is one.
	SuiteTicket func(ctx context.Context) (string, error)
	// Legacy selects the legacy endpoint, whose token goes in the
	// suite_access_token query parameter of the legacy API.
	Legacy bool

	Endpoint   string       // if empty, DefaultEndpoint, or DefaultLegacyEndpoint with Legacy
	HTTPClient *http.Client // if nil, a client from NewRetryClient is used
	Logger     *slog.Logger // if nil, nothing is logged

	slot fetcherSlot
}

// Key returns "suite:" and the suite key.
func (c *SuiteCredentials) Key() string { return "suite:" + c.SuiteKey }

// SealingSecret returns the suite secret.
func (c *SuiteCredentials) SealingSecret() string { return c.SuiteSecret }

// Fetch gets a suite token from DingTalk, asking SuiteTicket for the ticket
// first. A stale ticket is an error matching ErrInvalidCredentials.
func (c *SuiteCredentials) Fetch(ctx context.Context) (Token, error) {
	if err := required(c.Key(), "SuiteCredentials", "SuiteKey", c.SuiteKey, "SuiteSecret", c.SuiteSecret); err != nil {
		return Token{}, err
	}
	if c.SuiteTicket == nil {
		return Token{}, fmt.Errorf("dingtoken: fetch %s: SuiteCredentials.SuiteTicket is nil", c.Key())
	}
	return fetchWithSuiteTicket(ctx, c.Key(), c.SuiteSecret, c.SuiteTicket, func(ticket string) (Token, error) {
		if c.Legacy {
			return c.fetchLegacy(ctx, ticket)
		}
		// docs/01-应用开发/02-4a8AMF6u2A-服务端API/0036-obtains-the-suite-acess-token-of-third-party-enterprise-applications.md:
		// {"suiteKey", "suiteSecret", "suiteTicket"} -> {"accessToken", "expireIn"}
		body := map[string]string{"suiteKey": c.SuiteKey, "suiteSecret": c.SuiteSecret, "suiteTicket": ticket}
		t, err := fetchJSON(ctx, c.HTTPClient, endpoint(c.Endpoint, DefaultEndpoint)+"/v1.0/oauth2/suiteAccessToken",
			body, c.Key(), c.Logger, c.SuiteSecret, ticket)
		return t, markCredentialError(err)
	})
}

// fetchLegacy asks the legacy endpoint, which takes a form, as the docs'
// request example sends it (docs/01-应用开发/02-4a8AMF6u2A-服务端API/1445-obtain-application-suite-ticket.md):
// suite_key, suite_secret, suite_ticket -> {"errcode", "suite_access_token", "expires_in"}.
func (c *SuiteCredentials) fetchLegacy(ctx context.Context, ticket string) (Token, error) {
	form := url.Values{"suite_key": {c.SuiteKey}, "suite_secret": {c.SuiteSecret}, "suite_ticket": {ticket}}
	u := endpoint(c.Endpoint, DefaultLegacyEndpoint) + "/service/get_suite_token"
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, strings.NewReader(form.Encode()))
	if err != nil {
		return Token{}, fetchError(c.Key(), err, c.SuiteSecret, ticket)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded;charset=utf-8")
	return fetchShaped(req, httpClient(c.HTTPClient), legacySuiteTokenShape, c.Key(), c.Logger,
		c.SuiteSecret, ticket, url.QueryEscape(c.SuiteSecret), url.QueryEscape(ticket))
}
