package dingtoken

import (
	"context"
	"log/slog"
	"net/http"
	"net/url"
)

// ClientCredentials fetch an app's token for one corp from the endpoint that
// serves internal and third-party apps alike (the OAuth2 client-credentials
// grant): POST {Endpoint}/v1.0/oauth2/{CorpID}/token. An internal app names
// its own corp; a third-party app names a corp that authorised it, and needs
// no suite ticket.
//
// Its cache key is "client:<ClientID>:<CorpID>", with ':' and '%' in either
// ID percent-escaped. DingTalk does not say whether this token is the one
// the app or corp endpoints hand out, so it is cached on its own.
// Use a pointer, as with AppCredentials.
type ClientCredentials struct {
	ClientID     string // the app's or suite's Client ID
	ClientSecret string // its Client Secret
	CorpID       string // the corp the token acts in

	Endpoint   string       // if empty, DefaultEndpoint is used
	HTTPClient *http.Client // if nil, a client from NewRetryClient is used
	Logger     *slog.Logger // if nil, nothing is logged

	slot fetcherSlot
}

// Key returns "client:<ClientID>:<CorpID>".
func (c *ClientCredentials) Key() string { return compositeKey("client", c.ClientID, c.CorpID) }

// SealingSecret returns the client secret.
func (c *ClientCredentials) SealingSecret() string { return c.ClientSecret }

// Fetch gets a token from DingTalk.
func (c *ClientCredentials) Fetch(ctx context.Context) (Token, error) {
	if err := required(c.Key(), "ClientCredentials", "ClientID", c.ClientID, "ClientSecret", c.ClientSecret, "CorpID", c.CorpID); err != nil {
		return Token{}, err
	}
	// docs/01-应用开发/02-4a8AMF6u2A-服务端API/0037-api-gettoken.md: snake_case both ways,
	// {"client_id", "client_secret", "grant_type": "client_credentials"} -> {"access_token", "expires_in"}
	body := map[string]string{"client_id": c.ClientID, "client_secret": c.ClientSecret, "grant_type": "client_credentials"}
	u := endpoint(c.Endpoint, DefaultEndpoint) + "/v1.0/oauth2/" + url.PathEscape(c.CorpID) + "/token"
	t, err := fetchJSON(ctx, c.HTTPClient, u, body, c.Key(), c.Logger, c.ClientSecret)
	return t, markCredentialError(err)
}
