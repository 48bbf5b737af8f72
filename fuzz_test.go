package dingtoken

import (
	"bytes"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

// Fuzz targets for the parsers that read what others wrote: DingTalk's
// answers to API calls, its token endpoints' answers, and values in the
// shared Store. Seeds are real DingTalk bodies, in testdata/fuzz; `make fuzz`
// runs each target, `make test` runs the seeds.

// FuzzInspectResponse: whatever the answer, plain or gzip-encoded,
// inspecting it never panics, the caller still reads exactly the bytes that
// were sent, and an answer small enough to be read whole gets the verdict of
// its plain body.
func FuzzInspectResponse(f *testing.F) {
	f.Add(200, true, false, false, []byte(`{"errcode":40014,"errmsg":"不合法的access_token"}`))
	f.Fuzz(func(t *testing.T, status int, knownLength, newAPI, gzipEncoded bool, body []byte) {
		sent := body
		header := http.Header{"Content-Type": {"application/json"}}
		if gzipEncoded {
			sent = gzipped(t, body)
			header.Set("Content-Encoding", "gzip")
		}
		length := int64(-1)
		if knownLength {
			length = int64(len(sent))
		}
		resp := &http.Response{StatusCode: status, ContentLength: length, Header: header, Body: io.NopCloser(bytes.NewReader(sent))}
		rejected := inspectResponse(resp, newAPI)
		got, err := io.ReadAll(resp.Body)
		if err != nil || !bytes.Equal(got, sent) || resp.ContentLength != length {
			t.Fatalf("caller read %q (%v), want %q", got, err, sent)
		}
		if len(sent) <= chunkPeek && len(body) <= maxInspect {
			want := (status == http.StatusOK && !newAPI || status == http.StatusBadRequest || status == http.StatusUnauthorized) &&
				isRejection(status, body)
			if rejected != want {
				t.Fatalf("inspectResponse = %v, want %v for HTTP %d %q (gzip %v)", rejected, want, status, body, gzipEncoded)
			}
		}
	})
}

// FuzzRejectionScan: the cheap byte scan never rules out a body that the
// JSON verdict calls a rejection, so that scanning first changes no verdict.
func FuzzRejectionScan(f *testing.F) {
	f.Add(200, []byte(`{"errcode":40014,"errmsg":"不合法的access_token"}`))
	f.Fuzz(func(t *testing.T, status int, body []byte) {
		if got, want := isRejection(status, body), parsedRejection(status, body); got != want {
			t.Fatalf("HTTP %d %q: isRejection = %v, the JSON verdict %v", status, body, got, want)
		}
	})
}

// FuzzParseTokenResponse: a token endpoint's answer is a token or an error,
// never a panic, and a token has only letters, digits and "-._~+/=", which
// go into a URL or a header unharmed.
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
		if value == "" {
			t.Fatal("parsed an empty token")
		}
		for _, c := range []byte(value) {
			if !('0' <= c && c <= '9' || 'a' <= c|0x20 && c|0x20 <= 'z' || strings.IndexByte("-._~+/=", c) >= 0) {
				t.Fatalf("parsed token %q has byte %#x", value, c)
			}
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
