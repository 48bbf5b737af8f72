package dingtoken

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"time"
)

const (
	// maxTokenResponse bounds how much of a token endpoint's answer is read.
	maxTokenResponse = 1 << 20

	// DefaultTokenLifetime replaces an expireIn that is missing, not
	// positive, or longer than MaxTokenLifetime. DingTalk's tokens live 7200 s.
	DefaultTokenLifetime = 7200 * time.Second
	// MaxTokenLifetime is the longest lifetime a token endpoint is believed.
	MaxTokenLifetime = 24 * time.Hour
)

// Legacy errcodes and new-API codes with which a token endpoint says the
// credentials are wrong. corpAccessToken's codes are those of
// docs/01-应用开发/02-4a8AMF6u2A-服务端API/0034-obtain-the-access-token-of-the-authorized-enterprise-1.md
// (错误码).
var credentialErrors = map[string]bool{
	"40001":                   true, // gettoken: wrong secret
	"40089":                   true, // gettoken: invalid appkey or appsecret
	"invalidClientIdOrSecret": true, // accessToken and corpAccessToken
	"invalidSuiteKey":         true, // corpAccessToken and suiteAccessToken: no such suite key
	"invalidSuiteTicket":      true, // corpAccessToken
	"invalidAuthInfo":         true, // corpAccessToken: the corp has not authorised the suite (授权关系不存在)
}

// errorBody holds the error fields of both of DingTalk's body shapes.
type errorBody struct {
	ErrCode         json.RawMessage `json:"errcode"`  // legacy; a number
	ErrMsg          string          `json:"errmsg"`   // legacy
	SubCode         json.RawMessage `json:"sub_code"` // legacy; a number or a string
	SubMsg          string          `json:"sub_msg"`
	LegacyRequestID string          `json:"request_id"`
	Code            string          `json:"code"` // new API
	Message         string          `json:"message"`
	RequestID       string          `json:"requestid"`
}

// parseAPIError returns the error that a DingTalk answer carries, or nil when
// it is a success. A body that is not JSON is an error only with a 4xx or 5xx
// status.
func parseAPIError(status int, body []byte) *APIError {
	body = trimBOM(body)
	var eb errorBody
	if err := json.Unmarshal(body, &eb); err != nil {
		if status < 400 {
			return nil
		}
		return &APIError{StatusCode: status, Message: describeNonJSON(body)}
	}
	e := &APIError{StatusCode: status, RequestID: eb.RequestID}
	if e.RequestID == "" {
		e.RequestID = eb.LegacyRequestID
	}
	switch code := jsonScalar(eb.ErrCode); {
	case eb.Code != "":
		e.Code, e.Message = eb.Code, eb.Message
	case code != "" && code != "0":
		e.Code, e.SubCode, e.Message = code, jsonScalar(eb.SubCode), eb.ErrMsg
		if eb.SubMsg != "" {
			e.Message += " (" + eb.SubMsg + ")"
		}
	case status >= 400:
		e.Message = eb.Message
	default:
		return nil
	}
	return e
}

// jsonScalar returns a JSON number or string as text, or "" for anything else.
func jsonScalar(raw json.RawMessage) string {
	raw = bytes.TrimSpace(raw)
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	var n json.Number
	if json.Unmarshal(raw, &n) == nil {
		return n.String()
	}
	return ""
}

// describeNonJSON says what a non-JSON body looks like without quoting it.
func describeNonJSON(body []byte) string {
	kind := "non-JSON body"
	if bytes.Contains(bytes.ToLower(body[:min(len(body), 512)]), []byte("<html")) {
		kind = "HTML page"
	}
	return fmt.Sprintf("%s of %d bytes", kind, len(body))
}

// tokenBody holds the success fields of both token endpoints.
type tokenBody struct {
	AccessToken       string          `json:"accessToken"`  // new API
	ExpireIn          json.RawMessage `json:"expireIn"`     // new API
	LegacyAccessToken string          `json:"access_token"` // legacy
	LegacyExpiresIn   json.RawMessage `json:"expires_in"`   // legacy
}

// parseTokenResponse reads a token endpoint's answer: the token and its
// lifetime in seconds (0 when missing or unreadable), or the error it carries.
// Errors that mean wrong credentials match [ErrInvalidCredentials].
func parseTokenResponse(status int, body []byte) (value string, expireIn int64, err error) {
	if apiErr := parseAPIError(status, body); apiErr != nil {
		if credentialErrors[apiErr.Code] {
			apiErr.kind = ErrInvalidCredentials
		}
		return "", 0, apiErr
	}
	body = trimBOM(body)
	var tb tokenBody
	if err := json.Unmarshal(body, &tb); err != nil {
		return "", 0, fmt.Errorf("%w: HTTP %d, %s", ErrMalformedResponse, status, describeNonJSON(body))
	}
	value, lifetime := tb.AccessToken, tb.ExpireIn
	if value == "" {
		value, lifetime = tb.LegacyAccessToken, tb.LegacyExpiresIn
	}
	if value == "" {
		return "", 0, fmt.Errorf("%w: HTTP %d, no access token in the answer", ErrMalformedResponse, status)
	}
	if !isTokenText(value) {
		return "", 0, fmt.Errorf("%w: HTTP %d, the access token has characters a token never has", ErrMalformedResponse, status)
	}
	var n json.Number
	if json.Unmarshal(lifetime, &n) == nil {
		expireIn, _ = n.Int64() // a fraction or an overflow reads as 0 and is clamped
	}
	return value, expireIn, nil
}

// isTokenText reports whether v has only bytes a DingTalk token can have:
// ASCII letters and digits, and "-._~+/=" for base64 and URL-safe forms.
// Anything else (a control byte, a space, a quote, URL or header syntax,
// non-ASCII) would break, or change the meaning of, every request that
// carries it in a header or a query.
func isTokenText(v string) bool {
	for i := 0; i < len(v); i++ {
		switch c := v[i]; {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case c == '-', c == '.', c == '_', c == '~', c == '+', c == '/', c == '=':
		default:
			return false
		}
	}
	return true
}

// readTokenResponse reads and closes resp's body, at most maxTokenResponse
// bytes, and parses it.
func readTokenResponse(resp *http.Response) (value string, expireIn int64, err error) {
	defer resp.Body.Close()
	body, err := readTokenBody(resp)
	if err != nil {
		return "", 0, err
	}
	return parseTokenResponse(resp.StatusCode, body)
}

// readTokenBody reads resp's body, at most maxTokenResponse bytes, and
// decodes it with decodeTokenBody.
func readTokenBody(resp *http.Response) ([]byte, error) {
	raw, err := io.ReadAll(io.LimitReader(resp.Body, maxTokenResponse+1))
	if err != nil {
		return nil, fmt.Errorf("dingtoken: reading token response: %w", err)
	}
	return decodeTokenBody(resp, raw)
}

// decodeTokenBody checks the size of raw, resp's body, and decompresses it
// if it is gzip-encoded: net/http leaves it compressed when the client asked
// for gzip itself. The limit holds after decompression too.
func decodeTokenBody(resp *http.Response, raw []byte) ([]byte, error) {
	if len(raw) > maxTokenResponse {
		return nil, fmt.Errorf("%w: HTTP %d, body larger than %d bytes", ErrMalformedResponse, resp.StatusCode, maxTokenResponse)
	}
	if resp.Uncompressed || !isGzipEncoded(resp.Header) {
		return raw, nil
	}
	body, err := gunzip(raw, maxTokenResponse)
	switch {
	case errors.Is(err, errTooLarge):
		return nil, fmt.Errorf("%w: HTTP %d, gzip body larger than %d bytes once decompressed", ErrMalformedResponse, resp.StatusCode, maxTokenResponse)
	case err != nil:
		return nil, fmt.Errorf("%w: HTTP %d, gzip body that does not decompress: %v", ErrMalformedResponse, resp.StatusCode, err)
	}
	return body, nil
}

// newToken builds the token a fetch that started at start received, clamping
// a lifetime DingTalk would never give and logging that it did.
func newToken(value string, expireIn int64, start time.Time, key string, logger *slog.Logger) Token {
	lifetime := time.Duration(expireIn) * time.Second
	if expireIn <= 0 || expireIn > int64(MaxTokenLifetime/time.Second) {
		if logger != nil {
			logger.Warn("dingtoken: token endpoint gave an implausible lifetime; using the default",
				"key", key, "expireIn", expireIn, "lifetime", DefaultTokenLifetime)
		}
		lifetime = DefaultTokenLifetime
	}
	return Token{Value: value, Expiry: start.Add(lifetime)}
}
