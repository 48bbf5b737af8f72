package dingtoken

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/dingtoken/dingtoken/internal/memcachedtest"
	"github.com/hashicorp/go-retryablehttp"
)

// escapedForms lists the ways s appears in a URL or in quoted text: as it
// is, query-escaped ('+' or "%20" for a space), path-escaped (with or
// without '/' escaped), and Go-quoted.
func escapedForms(s string) []string {
	q := strconv.Quote(s)
	return []string{s, url.QueryEscape(s), strings.ReplaceAll(url.QueryEscape(s), "+", "%20"),
		url.PathEscape(s), strings.ReplaceAll(url.PathEscape(s), "%2F", "/"), q[1 : len(q)-1]}
}

// assertNoSecretForm fails if text holds any escaped form of any secret.
func assertNoSecretForm(t testing.TB, what, text string, secrets ...string) {
	t.Helper()
	for _, s := range secrets {
		for _, form := range escapedForms(s) {
			if strings.Contains(text, form) {
				t.Errorf("%s holds the secret %q as %q: %q", what, s, form, text)
			}
		}
	}
}

// walkErrors calls fn on err and on everything it wraps.
func walkErrors(err error, fn func(error)) {
	if err == nil {
		return
	}
	fn(err)
	switch u := err.(type) {
	case interface{ Unwrap() error }:
		walkErrors(u.Unwrap(), fn)
	case interface{ Unwrap() []error }:
		for _, e := range u.Unwrap() {
			walkErrors(e, fn)
		}
	}
}

// assertErrorClean fails if err, anything it wraps, or a *url.Error's URL
// in it holds any form of the secrets.
func assertErrorClean(t testing.TB, err error, secrets ...string) {
	t.Helper()
	walkErrors(err, func(e error) {
		assertNoSecretForm(t, "error", e.Error(), secrets...)
		assertNoSecretForm(t, "formatted error", fmt.Sprintf("%+v %#v", e, e), secrets...)
		if ue, ok := e.(*url.Error); ok {
			assertNoSecretForm(t, "url.Error URL", ue.URL, secrets...)
		}
	})
}

// Secrets with every byte that URL escaping changes.
var awkwardSecrets = []string{
	"base64+like/secret==",
	"with space and+plus/slash",
	`quote"back\slash?amp&hash#pct%`,
	"ünïcode-sécret-ključ",
}

func TestRedactStringEscapedForms(t *testing.T) {
	for _, secret := range awkwardSecrets {
		for _, form := range escapedForms(secret) {
			for _, text := range []string{
				`Get "https://oapi.dingtalk.com/gettoken?appkey=k&appsecret=` + form + `": dial tcp 127.0.0.1:1: connect: connection refused`,
				`Get "https://oapi.dingtalk.com/user/` + form + `/get?lang=zh": EOF`,
				"token " + form + " rejected",
			} {
				got := redactString(text, secret)
				assertNoSecretForm(t, "redacted text", got, secret)
				if !strings.Contains(got, redacted) {
					t.Errorf("redactString(%q) = %q, want REDACTED in it", text, got)
				}
			}
		}
	}
}

// TestRedactShortSecret: a secret of a few characters replaces whole values
// and words, not every matching substring of the message.
func TestRedactShortSecret(t *testing.T) {
	tests := []struct{ secret, text, want string }{
		{"h", `Get "https://oapi.dingtalk.com/gettoken?appkey=ding-h&appsecret=h": dial tcp: connection refused`,
			`Get "https://oapi.dingtalk.com/gettoken?appkey=ding-h&appsecret=REDACTED": dial tcp: connection refused`},
		{"tps", `Get "https://oapi.dingtalk.com/topapi/x?access_token=tps&lang=zh": EOF`,
			`Get "https://oapi.dingtalk.com/topapi/x?access_token=REDACTED&lang=zh": EOF`},
		{"ab", `Post "https://api.dingtalk.com/v1.0/ab/abc": token ab is bad`,
			`Post "https://api.dingtalk.com/v1.0/REDACTED/abc": token REDACTED is bad`},
		{"a b", `Get "http://127.0.0.1:1/gettoken?appsecret=a+b&x=a%20b": refused`,
			`Get "http://127.0.0.1:1/gettoken?appsecret=REDACTED&x=REDACTED": refused`},
	}
	for _, tt := range tests {
		t.Run(tt.secret, func(t *testing.T) {
			if got := redactString(tt.text, tt.secret); got != tt.want {
				t.Errorf("redactString(%q, %q)\n got %q\nwant %q", tt.text, tt.secret, got, tt.want)
			}
		})
	}
}

// TestShortLegacySecretKeepsErrorsReadable: a real fetch with a one-letter
// secret that fails on the network.
func TestShortLegacySecretKeepsErrorsReadable(t *testing.T) {
	closed := "http://" + memcachedtest.ClosedAddr(t)
	for _, secret := range []string{"h", "tp", "ttp"} {
		c := &LegacyAppCredentials{AppKey: testClientID, AppSecret: secret, Endpoint: closed, HTTPClient: &http.Client{}}
		_, err := c.Fetch(context.Background())
		if err == nil {
			t.Fatal("fetch from a closed port succeeded")
		}
		if msg := err.Error(); !strings.Contains(msg, closed+"/gettoken?") || !strings.Contains(msg, "appsecret=REDACTED") {
			t.Errorf("secret %q: err = %q, want the URL readable and the secret REDACTED", secret, msg)
		}
	}
}

// timeoutError is a net.Error that timed out.
type timeoutError struct{}

func (timeoutError) Error() string   { return "i/o timeout" }
func (timeoutError) Timeout() bool   { return true }
func (timeoutError) Temporary() bool { return true }

// quietError hides what it wraps from its text, as some wrappers do.
type quietError struct{ err error }

func (q quietError) Error() string { return "request failed" }
func (q quietError) Unwrap() error { return q.err }

// TestRedactNestedURLError: a *url.Error anywhere in the chain, quoted or
// not by the errors around it, comes out redacted, and errors.As still finds
// it and the net.Error in it, timeout and all.
func TestRedactNestedURLError(t *testing.T) {
	for _, token := range append([]string{"tok-plain-0123456789"}, awkwardSecrets...) {
		newURLError := func() *url.Error {
			return &url.Error{Op: "Get", URL: "https://oapi.dingtalk.com/topapi/x?access_token=" + url.QueryEscape(token), Err: timeoutError{}}
		}
		for name, err := range map[string]error{
			"bare":          newURLError(),
			"fmt.Errorf %w": fmt.Errorf("calling DingTalk: %w", newURLError()),
			"twice wrapped": fmt.Errorf("outer: %w", fmt.Errorf("inner: %w", newURLError())),
			"quiet wrapper": quietError{newURLError()},
			"errors.Join":   errors.Join(errors.New("first"), newURLError()),
		} {
			t.Run(name+" "+token, func(t *testing.T) {
				got := redactError(err, token)
				assertErrorClean(t, got, token)
				var ue *url.Error
				if !errors.As(got, &ue) || !strings.Contains(ue.URL, "access_token=REDACTED") {
					t.Errorf("errors.As(*url.Error) on %v: %v", got, ue)
				}
				var ne net.Error
				if !errors.As(got, &ne) || !ne.Timeout() {
					t.Errorf("errors.As(net.Error) on %v: %v, want a timeout", got, ne)
				}
				var te timeoutError
				if !errors.As(got, &te) {
					t.Errorf("errors.As lost the innermost error of %v", got)
				}
			})
		}
	}
}

// TestBaseErrorsNeverShowAnEscapedToken: a token with bytes the query
// escapes, in errors of base transports that quote the URL.
func TestBaseErrorsNeverShowAnEscapedToken(t *testing.T) {
	closed := memcachedtest.ClosedAddr(t)
	retrying := quickRetries(&http.Client{})
	retrying.RetryMax = 1
	defer retrying.HTTPClient.CloseIdleConnections()
	bases := map[string]http.RoundTripper{
		"go-retryablehttp": &retryablehttp.RoundTripper{Client: retrying},
		"url.Error by hand": roundTripFunc(func(r *http.Request) (*http.Response, error) {
			return nil, fmt.Errorf("sending: %w", &url.Error{Op: "Get", URL: r.URL.String(), Err: net.ErrClosed})
		}),
	}
	for _, token := range awkwardSecrets {
		for name, base := range bases {
			t.Run(name+" "+token, func(t *testing.T) {
				f := FetcherFunc("escaped", func(context.Context) (Token, error) {
					return Token{Value: token, Expiry: time.Now().Add(time.Hour)}, nil
				})
				c := &http.Client{Transport: &Transport{Fetcher: f, Manager: &Manager{}, Base: base, Hosts: []string{"127.0.0.1"}}}
				_, err := c.Get("http://" + closed + "/topapi/v2/user/get")
				if err == nil {
					t.Fatal("request to a closed port succeeded")
				}
				assertErrorClean(t, err, token)
				var ue *url.Error
				if !errors.As(err, &ue) {
					t.Errorf("errors.As(*url.Error) failed on %v", err)
				}
			})
		}
	}
}

// TestLegacySecretEscapedNeverInErrors: the legacy endpoint's URL carries
// the secret query-escaped.
func TestLegacySecretEscapedNeverInErrors(t *testing.T) {
	closed := "http://" + memcachedtest.ClosedAddr(t)
	for _, secret := range awkwardSecrets {
		c := &LegacyAppCredentials{AppKey: testClientID, AppSecret: secret, Endpoint: closed, HTTPClient: &http.Client{}}
		_, err := c.Fetch(context.Background())
		if err == nil {
			t.Fatal("fetch from a closed port succeeded")
		}
		assertErrorClean(t, err, secret)
		var ne net.Error
		if !errors.As(err, &ne) {
			t.Errorf("errors.As(net.Error) failed on %v", err)
		}
	}
}

// TestRedactParams: the value of every parameter DingTalk's APIs take a
// secret or a ticket in is REDACTED, its name in any case and at the end
// of a longer one; other parameters are left alone.
func TestRedactParams(t *testing.T) {
	tests := []struct{ name, in, want string }{
		// What it always did.
		{"access_token", "GET /topapi/x?access_token=tok-1&lang=zh", "GET /topapi/x?access_token=REDACTED&lang=zh"},
		{"suite_access_token", "/service/get_auth_info?suite_access_token=tok-2", "/service/get_auth_info?suite_access_token=REDACTED"},
		{"appsecret", `Get "/gettoken?appkey=k&appsecret=s3cr3t": EOF`, `Get "/gettoken?appkey=k&appsecret=REDACTED": EOF`},
		{"any case", "APPSECRET=s3cr3t#frag", "APPSECRET=REDACTED#frag"},
		{"empty value", "access_token=&lang=zh", "access_token=&lang=zh"},
		{"already redacted", "access_token=REDACTED", "access_token=REDACTED"},
		{"twice", "access_token=a access_token=b", "access_token=REDACTED access_token=REDACTED"},
		// DingTalk's other secrets and tickets.
		{"corpsecret", "/sso/gettoken?corpid=ding1&corpsecret=s3cr3t", "/sso/gettoken?corpid=ding1&corpsecret=REDACTED"},
		{"suite_secret", "suite_key=k&suite_secret=s3cr3t&suite_ticket=t1ck3t", "suite_key=k&suite_secret=REDACTED&suite_ticket=REDACTED"},
		{"suiteSecret", "suiteKey=k&suiteSecret=s3cr3t&suiteTicket=t1ck3t", "suiteKey=k&suiteSecret=REDACTED&suiteTicket=REDACTED"},
		{"accessSecret", "accessKey=k&accessSecret=s3cr3t&auth_corpid=c", "accessKey=k&accessSecret=REDACTED&auth_corpid=c"},
		{"suiteTicket", "/service/get_corp_token?timestamp=1&suiteTicket=t1ck3t&accessKey=k", "/service/get_corp_token?timestamp=1&suiteTicket=REDACTED&accessKey=k"},
		{"ssoSecret", "corpid=ding1 ssoSecret=s3cr3t", "corpid=ding1 ssoSecret=REDACTED"},
		{"client_secret", "client_id=c&client_secret=s3cr3t&grant_type=client_credentials", "client_id=c&client_secret=REDACTED&grant_type=client_credentials"},
		{"clientSecret", "clientId=c&clientSecret=s3cr3t&code=x", "clientId=c&clientSecret=REDACTED&code=x"},
		{"jsapi_ticket", "jsapi_ticket=t1ck3t&noncestr=n&timestamp=1&url=u", "jsapi_ticket=REDACTED&noncestr=n&timestamp=1&url=u"},
		// JSON bodies, as they are or quoted in an error, and name: value.
		{"JSON", `{"appKey":"k","appSecret":"s3cr3t"}`, `{"appKey":"k","appSecret":"REDACTED"}`},
		{"JSON with spaces", `{"suiteTicket" : "t1ck3t", "x": 1}`, `{"suiteTicket" : "REDACTED", "x": 1}`},
		{"quoted JSON", `body "{\"clientSecret\":\"s3cr3t\"}"`, `body "{\"clientSecret\":\"REDACTED\"}"`},
		{"name: value", "appSecret: s3cr3t, next", "appSecret: REDACTED, next"},
		{"Go map", "map[appKey:k appSecret:s3cr3t]", "map[appKey:k appSecret:REDACTED]"},
		{"empty JSON value", `{"appSecret":""}`, `{"appSecret":""}`},
		// Names whose values are not secrets, and a name in prose.
		{"prose", "the access_token is invalid", "the access_token is invalid"},
		{"identifiers", "appkey=k&corpid=c&suite_key=k&auth_corpid=c&timestamp=1&noncestr=n",
			"appkey=k&corpid=c&suite_key=k&auth_corpid=c&timestamp=1&noncestr=n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := redactParams(tt.in); got != tt.want {
				t.Errorf("redactParams(%q)\n got %q\nwant %q", tt.in, got, tt.want)
			}
		})
	}
}
