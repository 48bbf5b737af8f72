package dingtoken

import (
	"bytes"
	"compress/gzip"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"runtime"
	"strconv"
	"strings"
	"testing"

	"github.com/dingtoken/dingtoken/dingtalktest"
)

func TestIsRejection(t *testing.T) {
	tests := []struct {
		status int
		body   string
		want   bool
	}{
		{200, `{"errcode":0,"errmsg":"ok","result":{}}`, false},
		{200, `{"errcode":40014,"errmsg":"不合法的access_token"}`, true},
		{200, `{"errcode":42001,"errmsg":"access_token超时"}`, true},
		{200, `{"errcode": 40001, "errmsg":"invalid credential"}`, true},
		{200, `{"errcode":88,"sub_code":"40014","errmsg":"ding talk error"}`, true},
		{200, `{"errcode":88,"sub_code":42001,"errmsg":"ding talk error"}`, true},
		{200, `{"errcode":88,"sub_code":"90018","errmsg":"ding talk error"}`, false},
		{200, `{"errcode":90018,"errmsg":"当前请求被限流"}`, false},
		{200, `{"errcode":-1,"errmsg":"系统繁忙"}`, false},
		{200, `{"errcode":60011,"errmsg":"没有调用该接口的权限"}`, false},
		{200, `{"errcode":400140,"errmsg":"other"}`, false},
		{200, `{"result":{"errcode":40014}}`, false}, // data inside a result, not DingTalk's verdict
		{400, `{"code":"InvalidAuthentication","message":"不合法的access_token","requestid":"x"}`, true},
		{401, `{"code":"InvalidAuthentication","message":"x"}`, true},
		{401, `{"code":"Unauthorized","message":"x"}`, true},
		{400, `{"code":"Unauthorized","message":"x"}`, false},
		{403, `{"code":"Forbidden.AccessDenied.AccessTokenPermissionDenied","message":"x"}`, false},
		{429, `{"code":"Throttling.Api","message":"x"}`, false},
		{400, `{"code":"InvalidParameter","message":"InvalidAuthentication is not the code"}`, false},
		{200, `not json "errcode":40014`, false},
		// Forms the byte scan once missed.
		{200, `{"errcode":"40014","errmsg":"不合法的access_token"}`, true},
		{200, `{"errcode":"42001","errmsg":"access_token超时"}`, true},
		{200, "\xef\xbb\xbf" + `{"errcode":40014,"errmsg":"不合法的access_token"}`, true},
		{400, "\xef\xbb\xbf" + `{"code":"InvalidAuthentication","message":"x"}`, true},
		{200, `{"result":{"errcode":0},"errcode":40014}`, true}, // the verdict is the top-level errcode, wherever it stands
		{200, `{"errcode":"4001\u0034"}`, true},
		{400, `{"code":"Invalid\u0041uthentication"}`, true},
		{200, `{"errcode":"40014 "}`, false},
		{200, `{"errcode":40014.0}`, false},
		{200, `{"errcode":-40014}`, false},
		{200, `{"errcode":40014}{}`, false},
		{200, "{\n  \"errcode\" : 40014,\n  \"errmsg\": \"x\"\n}", true},
		{200, `{"request_id":"r","errcode":40014}`, true},
		{200, `{"errcode":40014,"errcode":0}`, true}, // the first errcode decides
		{200, `{"errcode":0,"errcode":40014}`, false},
		{200, `{"errc\u006fde":40014}`, true},
		{200, `{"ERRCODE":40014}`, false}, // names match exactly
	}
	for _, tt := range tests {
		t.Run(strconv.Itoa(tt.status)+" "+tt.body, func(t *testing.T) {
			if got := isRejection(tt.status, []byte(tt.body)); got != tt.want {
				t.Errorf("isRejection = %v, want %v", got, tt.want)
			}
			if got := parsedRejection(tt.status, []byte(tt.body)); got != tt.want {
				t.Errorf("parsedRejection = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestInspectKeepsEveryByte(t *testing.T) {
	body := `{"errcode":40014,"errmsg":"不合法的access_token"}`
	for name, length := range map[string]int64{"known length": int64(len(body)), "unknown length": -1} {
		t.Run(name, func(t *testing.T) {
			resp := &http.Response{StatusCode: 200, ContentLength: length, Header: http.Header{"Content-Type": {"application/json"}},
				Body: io.NopCloser(strings.NewReader(body))}
			if !inspectResponse(resp, false) {
				t.Error("a 40014 answer was not recognised")
			}
			got, _ := io.ReadAll(resp.Body)
			if string(got) != body || resp.ContentLength != length {
				t.Errorf("caller read %q (length %d), want %q (%d)", got, resp.ContentLength, body, length)
			}
		})
	}
	big := bytes.Repeat([]byte("x"), maxInspect+1)
	resp := &http.Response{StatusCode: 200, ContentLength: int64(len(big)), Header: http.Header{"Content-Type": {"application/json"}},
		Body: io.NopCloser(bytes.NewReader(big))}
	if inspectResponse(resp, false) {
		t.Error("a body over the inspection limit was inspected")
	}
	if got, _ := io.ReadAll(resp.Body); !bytes.Equal(got, big) {
		t.Error("a large body was altered")
	}
}

// gzipped compresses b.
func gzipped(t testing.TB, b []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	if _, err := zw.Write(b); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// TestInspectHeaderForms: answers a careless gateway labels differently are
// still inspected; answers that cannot be JSON are not.
func TestInspectHeaderForms(t *testing.T) {
	body := `{"errcode":40014,"errmsg":"不合法的access_token"}`
	tests := []struct {
		contentType string
		want        bool
	}{
		{"application/json;charset=utf-8", true},
		{"Application/JSON", true},
		{"APPLICATION/JSON; charset=UTF-8", true},
		{"", true},
		{"text/html", false},
	}
	for _, tt := range tests {
		t.Run(tt.contentType, func(t *testing.T) {
			h := http.Header{}
			if tt.contentType != "" {
				h.Set("Content-Type", tt.contentType)
			}
			resp := &http.Response{StatusCode: 200, ContentLength: int64(len(body)), Header: h, Body: io.NopCloser(strings.NewReader(body))}
			if got := inspectResponse(resp, false); got != tt.want {
				t.Errorf("inspectResponse = %v, want %v", got, tt.want)
			}
		})
	}
}

// gzipBomb returns a gzip stream, about 1 KiB per MiB, that decompresses to
// prefix, mib MiB of 'a', then suffix: gzip members one after another, which
// gzip readers read as one stream.
func gzipBomb(t testing.TB, prefix string, mib int, suffix string) []byte {
	t.Helper()
	filler := gzipped(t, bytes.Repeat([]byte("a"), 1<<20))
	bomb := append(gzipped(t, []byte(prefix)), bytes.Repeat(filler, mib)...)
	return append(bomb, gzipped(t, []byte(suffix))...)
}

// TestInspectGzipKeepsEveryByte: a gzip-encoded rejection is recognised
// from a decompressed copy, and the caller reads the compressed bytes
// DingTalk sent, with Content-Length and Content-Encoding unchanged.
func TestInspectGzipKeepsEveryByte(t *testing.T) {
	tests := []struct {
		name   string
		status int
		newAPI bool
		body   string
		want   bool
	}{
		{"legacy 40014", 200, false, `{"errcode":40014,"errmsg":"不合法的access_token"}`, true},
		{"legacy ok", 200, false, `{"errcode":0,"errmsg":"ok"}`, false},
		{"new 400", 400, true, `{"code":"InvalidAuthentication","message":"不合法的access_token"}`, true},
		{"new 401", 401, true, `{"code":"Unauthorized","message":"x"}`, true},
	}
	for _, tt := range tests {
		for _, known := range []bool{true, false} {
			t.Run(tt.name+" known length "+strconv.FormatBool(known), func(t *testing.T) {
				sent := gzipped(t, []byte(tt.body))
				length := int64(-1)
				if known {
					length = int64(len(sent))
				}
				resp := &http.Response{StatusCode: tt.status, ContentLength: length,
					Header: http.Header{"Content-Type": {"application/json"}, "Content-Encoding": {"gzip"}},
					Body:   io.NopCloser(bytes.NewReader(sent))}
				if got := inspectResponse(resp, tt.newAPI); got != tt.want {
					t.Errorf("inspectResponse = %v, want %v", got, tt.want)
				}
				got, err := io.ReadAll(resp.Body)
				if err != nil || !bytes.Equal(got, sent) || resp.ContentLength != length || resp.Header.Get("Content-Encoding") != "gzip" {
					t.Errorf("caller read %q (%v), length %d, encoding %q; want the %d compressed bytes, length %d",
						got, err, resp.ContentLength, resp.Header.Get("Content-Encoding"), len(sent), length)
				}
			})
		}
	}
}

// TestInspectGzipBomb: a small compressed answer that expands to 32 MiB
// is not judged, and costs a bounded amount of memory, not 32 MiB. The same
// answer expanding to 32 KiB is judged a rejection.
func TestInspectGzipBomb(t *testing.T) {
	bomb := gzipBomb(t, `{"errcode":40014,"errmsg":"`, 32, `"}`) // a rejection, were it read whole
	if len(bomb) > maxInspect {
		t.Fatalf("the bomb is %d bytes compressed, over the inspection limit", len(bomb))
	}
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	resp := &http.Response{StatusCode: 200, ContentLength: int64(len(bomb)),
		Header: http.Header{"Content-Type": {"application/json"}, "Content-Encoding": {"gzip"}},
		Body:   io.NopCloser(bytes.NewReader(bomb))}
	rejected := inspectResponse(resp, false)
	runtime.ReadMemStats(&after)
	if rejected {
		t.Error("an answer over the limit once decompressed was judged")
	}
	if got := after.TotalAlloc - before.TotalAlloc; got > 1<<20 {
		t.Errorf("inspecting a gzip bomb allocated %d bytes, want under 1 MiB", got)
	}
	if got, _ := io.ReadAll(resp.Body); !bytes.Equal(got, bomb) {
		t.Error("the caller did not read the compressed bytes")
	}
	small := gzipped(t, []byte(`{"errcode":40014,"errmsg":"`+strings.Repeat("a", 32<<10)+`"}`))
	resp = &http.Response{StatusCode: 200, ContentLength: int64(len(small)),
		Header: http.Header{"Content-Type": {"application/json"}, "Content-Encoding": {"gzip"}},
		Body:   io.NopCloser(bytes.NewReader(small))}
	if !inspectResponse(resp, false) {
		t.Error("a 32 KiB rejection, compressed, was not recognised")
	}
}

// gzipFront starts a gateway in front of srv that gzips every answer whose
// request accepts gzip, as DingTalk's gateway may, and returns a base
// transport that sends DingTalk's hosts to it over real HTTP.
func gzipFront(t *testing.T, srv *dingtalktest.Server) http.RoundTripper {
	t.Helper()
	u, err := url.Parse(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	proxy := httputil.NewSingleHostReverseProxy(u)
	proxy.Transport = srv.Transport()
	proxy.ModifyResponse = func(r *http.Response) error {
		if !strings.Contains(r.Request.Header.Get("Accept-Encoding"), "gzip") {
			return nil
		}
		raw, err := io.ReadAll(r.Body)
		r.Body.Close()
		if err != nil {
			return err
		}
		var buf bytes.Buffer
		zw := gzip.NewWriter(&buf)
		zw.Write(raw)
		zw.Close()
		r.Body = io.NopCloser(&buf)
		r.ContentLength = int64(buf.Len())
		r.Header.Set("Content-Length", strconv.Itoa(buf.Len()))
		r.Header.Set("Content-Encoding", "gzip")
		return nil
	}
	front := httptest.NewServer(proxy)
	t.Cleanup(front.Close)
	base := front.Client().Transport
	return roundTripFunc(func(r *http.Request) (*http.Response, error) {
		c := r.Clone(r.Context())
		c.Host = r.URL.Host
		c.URL.Scheme, c.URL.Host = "http", front.Listener.Addr().String()
		return base.RoundTrip(c)
	})
}

// TestGzipRejectionIsRecognised: a caller that asks for gzip itself gets
// DingTalk's answers compressed, rejections included (net/http decompresses
// only what it asked for); the rejection is still seen and the request
// recovers, in both API generations.
func TestGzipRejectionIsRecognised(t *testing.T) {
	for _, tt := range []struct{ name, url string }{
		{"legacy", "https://oapi.dingtalk.com/topapi/v2/user/get"},
		{"new API", "https://api.dingtalk.com/v1.0/contact/users/me"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			srv := newSim(t)
			m := &Manager{}
			c := &http.Client{Transport: &Transport{Fetcher: appCreds(srv), Manager: m, Base: gzipFront(t, srv)}}
			get := func() *http.Response {
				req := newRequest(t, "GET", tt.url, nil)
				req.Header.Set("Accept-Encoding", "gzip")
				resp, err := c.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				return resp
			}
			get().Body.Close()
			srv.RevokeAll()
			resp := get()
			defer resp.Body.Close()
			if got := resp.Header.Get("Content-Encoding"); got != "gzip" {
				t.Fatalf("Content-Encoding %q, want gzip: the gateway did not compress", got)
			}
			zr, err := gzip.NewReader(resp.Body)
			if err != nil {
				t.Fatal(err)
			}
			body, err := io.ReadAll(zr)
			if err != nil {
				t.Fatal(err)
			}
			if resp.StatusCode != 200 || isRejection(resp.StatusCode, body) || !strings.Contains(string(body), `"result"`) {
				t.Errorf("got %d %s, want the API's answer after one retry", resp.StatusCode, body)
			}
			if st := m.Stats(); st.Retries != 1 || st.Invalidations != 1 {
				t.Errorf("stats %+v, want one rejection and one retry", st)
			}
			if got := srv.Fetches(testClientID); got != 2 {
				t.Errorf("token fetches = %d, want 2", got)
			}
		})
	}
}
