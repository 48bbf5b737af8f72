package dingtoken

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/dingtoken/dingtoken/dingtalktest"
)

// TestTokenWithForbiddenBytes: a token that could not travel in a header or
// a query unharmed (control bytes, spaces, quotes, URL syntax, non-ASCII) is
// ErrMalformedResponse, not a token every API call then fails with.
func TestTokenWithForbiddenBytes(t *testing.T) {
	tests := []struct {
		name, token string
		ok          bool
	}{
		{"hex", "6d1bxxxx7ca33b4a1f0123456789abcd", true},
		{"base64", "ab+cd/ef==", true},
		{"base64url", "ab-cd_ef.g~", true},
		{"control byte", `abc\u0001def`, false},
		{"NUL", `abc\u0000def`, false},
		{"DEL", `abc\u007fdef`, false},
		{"escape", `abc\u001b[31mdef`, false},
		{"line feed", `abc\ndef`, false},
		{"space", "abc def", false},
		{"quote", `abc\"def`, false},
		{"percent", "abc%0Adef", false},
		{"backslash", `abc\\def`, false},
		{"query syntax", "abc&x=1", false},
		{"comma", "abc,def", false},
		{"semicolon", "abc;def", false},
		{"non-ASCII", "abcédef", false},
		{"line separator", `abc\u2028def`, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := newSim(t)
			srv.FailTokenRequests(1, dingtalktest.Fault{Body: `{"accessToken":"` + tt.token + `","expireIn":7200}`})
			tok, err := appCreds(srv).Fetch(context.Background())
			if tt.ok {
				if err != nil {
					t.Errorf("err = %v, want the token", err)
				}
				return
			}
			if !errors.Is(err, ErrMalformedResponse) || tok.Value != "" {
				t.Errorf("got %q, %v; want ErrMalformedResponse", tok.Value, err)
			}
		})
	}
}

// acceptGzip is a base transport that asks for gzip itself, as some
// middleware does, so that net/http hands over the compressed body.
func acceptGzip(base http.RoundTripper) http.RoundTripper {
	return roundTripFunc(func(r *http.Request) (*http.Response, error) {
		c := r.Clone(r.Context())
		c.Header.Set("Accept-Encoding", "gzip")
		return base.RoundTrip(c)
	})
}

// TestGzipTokenAnswers: a token endpoint's compressed answer, to a client
// that asked for gzip itself, is read as what it holds: a token, a "system
// busy" to retry, a bad secret.
func TestGzipTokenAnswers(t *testing.T) {
	gz := func(body string) dingtalktest.Fault {
		return dingtalktest.Fault{Body: string(gzipped(t, []byte(body))), Header: http.Header{"Content-Encoding": {"gzip"}}}
	}
	tests := []struct {
		name        string
		faults      []dingtalktest.Fault
		check       func(error) bool
		wantFetches int
	}{
		{"token", []dingtalktest.Fault{gz(`{"accessToken":"tok-gzipped-1","expireIn":7200}`)},
			func(err error) bool { return err == nil }, 1},
		{"busy, then a token", []dingtalktest.Fault{gz(dingtalktest.BusyBody), gz(`{"accessToken":"tok-gzipped-2","expireIn":7200}`)},
			func(err error) bool { return err == nil }, 2},
		{"bad secret", []dingtalktest.Fault{gz(`{"errcode":40089,"errmsg":"不合法的corpid或corpsecret"}`)},
			func(err error) bool { return errors.Is(err, ErrInvalidCredentials) }, 1},
		{"corrupt gzip", []dingtalktest.Fault{{Body: "\x1f\x8b\x08garbage", Header: http.Header{"Content-Encoding": {"gzip"}}}},
			func(err error) bool { return errors.Is(err, ErrMalformedResponse) }, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := newSim(t)
			for _, f := range tt.faults {
				srv.FailTokenRequests(1, f)
			}
			c := appCreds(srv)
			retrying := NewRetryClient(acceptGzip(srv.Transport()))
			rc := retrying.Transport.(retryTransport).Client
			rc.RetryWaitMin, rc.RetryWaitMax = time.Millisecond, time.Millisecond
			c.HTTPClient = retrying
			_, err := c.Fetch(context.Background())
			if !tt.check(err) {
				t.Errorf("err = %v", err)
			}
			if got := srv.Fetches(testClientID); got != tt.wantFetches {
				t.Errorf("token endpoint called %d times, want %d", got, tt.wantFetches)
			}
		})
	}
}

// TestGzipBombFromTokenEndpoint: an answer that expands to 64 MiB is
// ErrMalformedResponse after reading at most the 1 MiB limit of it.
func TestGzipBombFromTokenEndpoint(t *testing.T) {
	bomb := gzipBomb(t, `{"accessToken":"`, 64, `","expireIn":7200}`)
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	resp := &http.Response{StatusCode: 200, ContentLength: int64(len(bomb)),
		Header: http.Header{"Content-Type": {"application/json"}, "Content-Encoding": {"gzip"}},
		Body:   io.NopCloser(bytes.NewReader(bomb))}
	_, _, err := readTokenResponse(resp)
	runtime.ReadMemStats(&after)
	if !errors.Is(err, ErrMalformedResponse) || !strings.Contains(err.Error(), "larger than") {
		t.Errorf("err = %v, want ErrMalformedResponse for a body over the limit", err)
	}
	if got := after.TotalAlloc - before.TotalAlloc; got > 8<<20 {
		t.Errorf("reading a gzip bomb allocated %d bytes, want under 8 MiB", got)
	}
}
