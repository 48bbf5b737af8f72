package dingtoken

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/hashicorp/go-retryablehttp"
)

// closeCountingBody counts the Close calls of the body it wraps.
type closeCountingBody struct {
	io.ReadCloser
	closes *atomic.Int32
}

func (b closeCountingBody) Close() error {
	b.closes.Add(1)
	return b.ReadCloser.Close()
}

// TestBaseResponseWithAnErrorIsClosed: a Base may return a response and an
// error at once (go-retryablehttp does with an ErrorHandler such as
// PassthroughErrorHandler). The caller gets only the error, as http.Client
// gives it, so the Transport closes the response it drops: nobody else can,
// and its connection would stay taken for good.
func TestBaseResponseWithAnErrorIsClosed(t *testing.T) {
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusServiceUnavailable)
		io.WriteString(w, `{"code":"ServiceUnavailable"}`)
	}))
	defer api.Close()
	rc := quickRetries(api.Client())
	rc.RetryMax = 0
	rc.CheckRetry = func(_ context.Context, resp *http.Response, err error) (bool, error) {
		if err == nil && resp.StatusCode == http.StatusServiceUnavailable {
			return false, errors.New("unavailable")
		}
		return false, err
	}
	rc.ErrorHandler = retryablehttp.PassthroughErrorHandler
	defer rc.HTTPClient.CloseIdleConnections()
	var closes, responses atomic.Int32
	base := roundTripFunc(func(r *http.Request) (*http.Response, error) {
		resp, err := (&retryablehttp.RoundTripper{Client: rc}).RoundTrip(r)
		if resp != nil {
			responses.Add(1)
			resp.Body = closeCountingBody{resp.Body, &closes}
		}
		return resp, err
	})
	host := strings.TrimPrefix(api.URL, "http://")
	for _, path := range []string{"/v1.0/contact/users/me", "/topapi/v2/user/get", "/v1.0/oauth2/accessToken"} {
		for _, hosts := range [][]string{{"127.0.0.1"}, {"elsewhere.example"}} {
			t.Run(path+" for "+hosts[0], func(t *testing.T) {
				closes.Store(0)
				responses.Store(0)
				tr := &Transport{Fetcher: staticFetcher("both", "tok-both-5c1e"), Manager: &Manager{}, Base: base, Hosts: hosts}
				resp, err := tr.RoundTrip(newRequest(t, "GET", "http://"+host+path, nil))
				if resp != nil || err == nil {
					t.Fatalf("got %v, %v; want only the error", resp, err)
				}
				if got, want := responses.Load(), int32(1); got != want {
					t.Fatalf("Base returned %d responses, want %d", got, want)
				}
				if got, want := closes.Load(), int32(1); got != want {
					t.Errorf("the dropped response was closed %d times, want %d", got, want)
				}
			})
		}
	}
}
