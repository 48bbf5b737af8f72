package dingtoken

import (
	"bytes"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

// Fuzz targets for the three parsers that read what others wrote: DingTalk's
// answers to API calls, its token endpoints' answers, and values in the
// shared Store. Seeds are real DingTalk bodies, in testdata/fuzz; `make fuzz`
// runs each target, `make test` runs the seeds.

// FuzzInspectResponse: whatever the answer, inspecting it never panics and
// the caller still reads exactly the bytes that were sent.
func FuzzInspectResponse(f *testing.F) {
	f.Add(200, true, false, []byte(`{"errcode":40014,"errmsg":"不合法的access_token"}`))
	f.Fuzz(func(t *testing.T, status int, knownLength, newAPI bool, body []byte) {
		length := int64(-1)
		if knownLength {
			length = int64(len(body))
		}
		resp := &http.Response{StatusCode: status, ContentLength: length,
			Header: http.Header{"Content-Type": {"application/json"}}, Body: io.NopCloser(bytes.NewReader(body))}
		inspectResponse(resp, newAPI)
		got, err := io.ReadAll(resp.Body)
		if err != nil || !bytes.Equal(got, body) || resp.ContentLength != length {
			t.Fatalf("caller read %q (%v), want %q", got, err, body)
		}
	})
}

// FuzzParseTokenResponse: a token endpoint's answer is a token or an error,
// never a panic, and a token never has characters that would break a URL or
// a header.
func FuzzParseTokenResponse(f *testing.F) {
	f.Add(200, []byte(`{"expireIn":7200,"accessToken":"fw8ef8we8f76e6f7s8df8s"}`))
	f.Fuzz(func(t *testing.T, status int, body []byte) {
		value, expireIn, err := parseTokenResponse(status, body)
		if err != nil {
			if value != "" || expireIn != 0 {
				t.Fatalf("an error came with a token %q, %d", value, expireIn)
			}
			return
		}
		if value == "" || strings.ContainsAny(value, " \t\r\n\"&?#") {
			t.Fatalf("parsed token %q", value)
		}
		tok := newToken(value, expireIn, time.Now(), "fuzz", nil)
		if life := time.Until(tok.Expiry); life <= 0 || life > MaxTokenLifetime {
			t.Fatalf("lifetime %v outside (0, %v]", life, MaxTokenLifetime)
		}
	})
}

// FuzzStoredValue: any bytes under our memcached key decode to a token that
// encodes back to the same bytes, or are a miss; a sealed value opens only
// if it is one this app sealed.
func FuzzStoredValue(f *testing.F) {
	f.Add([]byte("dt1;1795000000000;0123456789abcdef0123456789abcdef"))
	s, err := newSealer("fuzz-secret", "app:fuzz")
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		tok, err := decodeMemcacheValue(data)
		if err != nil {
			return
		}
		if again := encodeMemcacheValue(tok); !bytes.Equal(again, data) {
			t.Fatalf("%q decoded to %v, which encodes to %q", data, tok, again)
		}
		if opened, err := s.open(tok); err == nil {
			t.Fatalf("fuzzed value %q opened as %v", data, opened)
		}
	})
}
