package dingtoken

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"
)

// answerShape names the fields of a DingTalk answer that carry a credential
// and its lifetime, for the answers whose field names the access-token
// parser does not know: jsapi tickets, the legacy suite token, the legacy
// SSO token.
type answerShape struct {
	value    string        // the credential's field, such as "jsapiTicket"
	expireIn string        // its lifetime in seconds; "" if the answer has none
	lifetime time.Duration // the lifetime to assume when expireIn is ""
}

// Answer shapes, as DingTalk's docs show them. Paths in comments name files
// of DingTalk's docs as mirrored in github.com/apolloyyu/kb-dingtalk-open-platform.
var (
	// {"jsapiTicket", "expireIn"}: docs/01-应用开发/02-4a8AMF6u2A-服务端API/0039-create-a-jsapi-ticket.md
	jsapiTicketShape = answerShape{value: "jsapiTicket", expireIn: "expireIn"}
	// {"errcode", "ticket", "expires_in"}: docs/01-应用开发/02-4a8AMF6u2A-服务端API/1447-obtain-jsapi-ticket.md
	legacyJSAPITicketShape = answerShape{value: "ticket", expireIn: "expires_in"}
	// {"errcode", "suite_access_token", "expires_in"}:
	// docs/01-应用开发/02-4a8AMF6u2A-服务端API/1445-obtain-application-suite-ticket.md
	legacySuiteTokenShape = answerShape{value: "suite_access_token", expireIn: "expires_in"}
	// docs/01-应用开发/02-4a8AMF6u2A-服务端API/1449-obtain-the-ssotoken-for-micro-application-background-logon-free.md:
	// {"errcode", "access_token"} and no lifetime. The new endpoint
	// (docs/01-应用开发/02-4a8AMF6u2A-服务端API/0025-obtain-the-access-token-of-the-micro-application-background-without-log-on.md)
	// gives the same kind of token 3600 s, so that is assumed: a shorter guess
	// costs a refetch, a longer one rejected requests.
	legacySSOTokenShape = answerShape{value: "access_token", lifetime: 3600 * time.Second}
)

// moreCredentialErrors are the codes with which the endpoints added beside
// the access-token ones say the credentials are wrong:
// docs/01-应用开发/02-4a8AMF6u2A-服务端API/0013-server-api-error-codes-1.md.
var moreCredentialErrors = map[string]bool{
	"invalid.client":      true, // {corpId}/token: wrong client ID or secret
	"unauthorized.client": true, // {corpId}/token: the corp has not authorised the app
	"40080":               true, // get_suite_token: invalid suite secret
	"40083":               true, // get_suite_token: invalid suite key
	"40085":               true, // get_suite_token: no such suite ticket
	"40088":               true, // get_suite_token: suite key and secret do not match
	"40090":               true, // get_suite_token: the suite no longer exists
}

// markCredentialError makes an *APIError whose code says the credentials
// are wrong match ErrInvalidCredentials, and returns err.
func markCredentialError(err error) error {
	var apiErr *APIError
	if errors.As(err, &apiErr) && apiErr.kind == nil && (moreCredentialErrors[apiErr.Code] || credentialErrors[apiErr.Code]) {
		apiErr.kind = ErrInvalidCredentials
	}
	return err
}

// fetchShaped sends req, a request for a credential answered in shape, and
// reads the answer like doFetch does: expiry counted from before the request
// went out, lifetimes DingTalk would never give clamped, errors scrubbed of
// secrets and prefixed with key.
func fetchShaped(req *http.Request, client *http.Client, shape answerShape, key string, logger *slog.Logger, secrets ...string) (Token, error) {
	resp, start, err := sendTokenRequest(req, client)
	if err != nil {
		return Token{}, fetchError(key, err, secrets...)
	}
	value, expireIn, err := readShapedResponse(resp, shape)
	if err != nil {
		return Token{}, fetchError(key, markCredentialError(err), secrets...)
	}
	if shape.expireIn == "" {
		return Token{Value: value, Expiry: start.Add(shape.lifetime)}, nil
	}
	return newToken(value, expireIn, start, key, logger), nil
}

// readShapedResponse reads and closes resp's body, at most maxTokenResponse
// bytes, and returns the credential and lifetime (0 when missing or
// unreadable) it carries, or the error it carries.
func readShapedResponse(resp *http.Response, shape answerShape) (value string, expireIn int64, err error) {
	defer resp.Body.Close()
	body, err := readTokenBody(resp)
	if err != nil {
		return "", 0, err
	}
	return parseShapedResponse(resp.StatusCode, body, shape)
}

// parseShapedResponse is readShapedResponse on a body already read.
func parseShapedResponse(status int, body []byte, shape answerShape) (value string, expireIn int64, err error) {
	if apiErr := parseAPIError(status, body); apiErr != nil {
		return "", 0, apiErr
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(body, &fields); err != nil || fields == nil {
		return "", 0, fmt.Errorf("%w: HTTP %d, %s", ErrMalformedResponse, status, describeNonJSON(body))
	}
	if json.Unmarshal(fields[shape.value], &value) != nil || value == "" {
		return "", 0, fmt.Errorf("%w: HTTP %d, no %s in the answer", ErrMalformedResponse, status, shape.value)
	}
	if !isTokenText(value) {
		return "", 0, fmt.Errorf("%w: HTTP %d, the %s has characters a credential never has", ErrMalformedResponse, status, shape.value)
	}
	if shape.expireIn != "" {
		var n json.Number
		if json.Unmarshal(fields[shape.expireIn], &n) == nil {
			expireIn, _ = n.Int64() // a fraction or an overflow reads as 0 and is clamped
		}
	}
	return value, expireIn, nil
}
