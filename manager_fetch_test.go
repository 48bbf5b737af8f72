package dingtoken

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// TestOwnFetcherErrorsHideSecretParams: a Fetcher of the user's own (a
// FetcherFunc here) fails on a legacy URL with the secret in its query. The
// Manager cannot know the secret, but returns and logs the error with the
// secret parameter's value REDACTED, a *url.Error still.
func TestOwnFetcherErrorsHideSecretParams(t *testing.T) {
	const secret = "S3CRETS3CRET"
	for _, path := range []string{
		"/gettoken?appkey=x&appsecret=",
		"/sso/gettoken?corpid=x&corpsecret=",
		"/service/get_suite_token?suite_key=x&suite_ticket=t&suite_secret=",
	} {
		t.Run(path, func(t *testing.T) {
			f := FetcherFunc("own-legacy", func(ctx context.Context) (Token, error) {
				req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://127.0.0.1:1"+path+secret, nil)
				if err != nil {
					return Token{}, err
				}
				resp, err := http.DefaultClient.Do(req)
				if err == nil {
					resp.Body.Close()
					return Token{}, errors.New("a request to port 1 succeeded")
				}
				return Token{}, err
			})
			logs, err := failedFetch(t, f)
			assertErrorClean(t, err, secret)
			assertNoSecret(t, "log", logs, secret)
			if !strings.Contains(logs, "level=WARN msg=\"dingtoken: token fetch failed\"") {
				t.Errorf("the log lacks the failed fetch: %q", logs)
			}
			var ue *url.Error
			if !errors.As(err, &ue) || !strings.Contains(ue.URL, "=REDACTED") {
				t.Errorf("errors.As(*url.Error) on %v: %v", err, ue)
			}
		})
	}
}

// TestOwnFetcherErrorsHideSecretBodies: a Fetcher of your own whose error
// quotes the JSON body it sent, or prints its fields, is returned and
// logged with the secrets' values REDACTED.
func TestOwnFetcherErrorsHideSecretBodies(t *testing.T) {
	const secret = "S3CRETS3CRET"
	for _, text := range []string{
		`sending {"appKey":"k","appSecret":"` + secret + `"}: EOF`,
		fmt.Sprintf("sending %q: EOF", `{"suiteKey":"k","suiteSecret":"`+secret+`","suiteTicket":"t"}`),
		"config map[clientId:c clientSecret:" + secret + "] refused",
	} {
		f := FetcherFunc("own-body", func(ctx context.Context) (Token, error) { return Token{}, errors.New(text) })
		logs, err := failedFetch(t, f)
		assertErrorClean(t, err, secret)
		assertNoSecret(t, "log", logs, secret)
	}
}

// failedFetch asks a new Manager with a logger for f's token, which must
// fail, and returns what was logged and the error.
func failedFetch(t *testing.T, f Fetcher) (string, error) {
	t.Helper()
	logger, logs := newLogger()
	_, err := (&Manager{Logger: logger}).Token(context.Background(), f)
	if err == nil {
		t.Fatal("err = nil, want the fetcher's error")
	}
	return logs.String(), err
}
