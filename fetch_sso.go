package dingtoken

import (
	"context"
	"log/slog"
	"net/http"
	"net/url"
)

// SSOCredentials fetch the token with which an app's admin console signs in
// a DingTalk administrator without a password (微应用后台免登):
// POST {Endpoint}/v1.0/oauth2/ssoAccessToken, or with Legacy
// GET {Endpoint}/sso/gettoken?corpid=&corpsecret=. For an ISV, CorpID and
// SSOSecret are the ISV's own, not its customers'.
//
// Its cache key is "sso:<CorpID>". Use a pointer, as with AppCredentials.
type SSOCredentials struct {
	CorpID    string // the corp whose SSO secret this is
	SSOSecret string // the SSO secret, from the developer console's 开发信息（旧版） page
	// Legacy selects the legacy endpoint, which puts the secret in the URL
	// and gives no lifetime: its tokens are assumed to live 3600 s.
	Legacy bool

	Endpoint   string       // if empty, DefaultEndpoint, or DefaultLegacyEndpoint with Legacy
	HTTPClient *http.Client // if nil, a client from NewRetryClient is used
	Logger     *slog.Logger // if nil, nothing is logged

	slot fetcherSlot
}

// Key returns "sso:" and the corp ID.
func (c *SSOCredentials) Key() string { return "sso:" + c.CorpID }

// SealingSecret returns the SSO secret.
func (c *SSOCredentials) SealingSecret() string { return c.SSOSecret }

// Fetch gets an SSO token from DingTalk.
func (c *SSOCredentials) Fetch(ctx context.Context) (Token, error) {
	if err := required(c.Key(), "SSOCredentials", "CorpID", c.CorpID, "SSOSecret", c.SSOSecret); err != nil {
		return Token{}, err
	}
	if c.Legacy {
		return c.fetchLegacy(ctx)
	}
	// docs/01-应用开发/02-4a8AMF6u2A-服务端API/0025-obtain-the-access-token-of-the-micro-application-background-without-log-on.md:
	// {"corpid", "ssoSecret"} -> {"accessToken", "expireIn"}
	body := map[string]string{"corpid": c.CorpID, "ssoSecret": c.SSOSecret}
	t, err := fetchJSON(ctx, c.HTTPClient, endpoint(c.Endpoint, DefaultEndpoint)+"/v1.0/oauth2/ssoAccessToken",
		body, c.Key(), c.Logger, c.SSOSecret)
	return t, markCredentialError(err)
}

// fetchLegacy asks the legacy endpoint
// (docs/01-应用开发/02-4a8AMF6u2A-服务端API/1449-obtain-the-ssotoken-for-micro-application-background-logon-free.md):
// GET /sso/gettoken?corpid=&corpsecret= -> {"errcode", "access_token"}.
// The secret travels in the URL, so every error is scrubbed of it.
func (c *SSOCredentials) fetchLegacy(ctx context.Context) (Token, error) {
	q := url.Values{"corpid": {c.CorpID}, "corpsecret": {c.SSOSecret}}
	u := endpoint(c.Endpoint, DefaultLegacyEndpoint) + "/sso/gettoken?" + q.Encode()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return Token{}, fetchError(c.Key(), err, c.SSOSecret, url.QueryEscape(c.SSOSecret))
	}
	return fetchShaped(req, httpClient(c.HTTPClient), legacySSOTokenShape, c.Key(), c.Logger,
		c.SSOSecret, url.QueryEscape(c.SSOSecret))
}
