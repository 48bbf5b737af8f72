package dingtoken

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// The hot path's shortcuts give the answers of the long ways they stand for.

func TestHostnameIsURLHostname(t *testing.T) {
	for _, host := range []string{
		"api.dingtalk.com", "API.DingTalk.com", "api.dingtalk.com:443", "api.dingtalk.com:",
		"127.0.0.1", "127.0.0.1:8080", "[::1]", "[::1]:8080", "[abc]", "[abc", "::1", "", "host:port",
	} {
		t.Run(host, func(t *testing.T) {
			u := &url.URL{Scheme: "https", Host: host}
			if got, want := hostname(u), u.Hostname(); got != want {
				t.Errorf("hostname(%q) = %q, want %q", host, got, want)
			}
		})
	}
}

func TestIsTokenHost(t *testing.T) {
	for _, tt := range []struct {
		hosts []string
		host  string
		want  bool
	}{
		{nil, "api.dingtalk.com", true},
		{nil, "oapi.dingtalk.com", true},
		{nil, "OAPI.DingTalk.COM", true},
		{nil, "api.dingtalk.com.evil.example", false},
		{nil, "pi.dingtalk.com", false},
		{[]string{"API.DINGTALK.COM"}, "api.dingtalk.com", true},
		{[]string{"127.0.0.1"}, "127.0.0.1", true},
		{[]string{"\u212aelvin.example"}, "kelvin.example", true}, // Unicode case folding, as strings.EqualFold
		{[]string{}, "api.dingtalk.com", false},
	} {
		tr := &Transport{Hosts: tt.hosts}
		if got := tr.isTokenHost(tt.host); got != tt.want {
			t.Errorf("Hosts %q: isTokenHost(%q) = %v, want %v", tt.hosts, tt.host, got, tt.want)
		}
	}
}

// countingReader counts the bytes read from it.
type countingReader struct {
	r    io.Reader
	read int
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.read += n
	return n, err
}

// TestInspectReadsOnlyTheOpening: a legacy answer whose leading errcode
// rules out a rejection is read no further than its opening, so it costs
// no buffer and is not read ahead of the caller, who still gets every byte.
func TestInspectReadsOnlyTheOpening(t *testing.T) {
	for _, tt := range []struct {
		name     string
		body     string
		rejected bool
		whole    bool // must be read whole to be judged
	}{
		{"ok", `{"errcode":0,"errmsg":"ok","result":{"userid":"manager4220","name":"张三"},"request_id":"5B1A8F1C9C1E"}`, false, false},
		{"throttled", `{"errcode":90018,"errmsg":"当前请求被限流","request_id":"5B1A8F1C9C1E5B1A8F1C9C1E"}`, false, false},
		{"string code", `{"errcode":"0","errmsg":"ok","result":{"userid":"manager4220"}}`, false, false},
		{"rejected", `{"errcode":40014,"errmsg":"不合法的access_token","request_id":"16ilz0ntmb4u5"}`, true, true},
		{"88 with sub_code", `{"errcode":88,"sub_code":"40014","errmsg":"不合法的access_token"}`, true, true},
		{"code cut by the opening", `{    "errcode" :          40014, "errmsg":"不合法的access_token"}`, true, true},
		{"code ends the opening", `{"errcode":                40014}`, true, true},
		{"BOM and spaces", "\xef\xbb\xbf {\"errcode\": 0, \"errmsg\":\"ok\",\"result\":{\"userid\":\"manager4220\"}}", false, false},
		{"errcode not first", `{"request_id":"5B1A8F1C9C1E","errcode":40014,"errmsg":"不合法的access_token"}`, true, true},
		{"escaped code", `{"errcode":"\u00340014","errmsg":"不合法的access_token","request_id":"x"}`, true, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			src := &countingReader{r: strings.NewReader(tt.body)}
			resp := &http.Response{StatusCode: 200, ContentLength: int64(len(tt.body)),
				Header: http.Header{"Content-Type": {"application/json"}}, Body: io.NopCloser(src)}
			if got := inspectResponse(resp, false); got != tt.rejected {
				t.Errorf("inspectResponse = %v, want %v", got, tt.rejected)
			}
			if got, want := tt.rejected, isRejection(200, []byte(tt.body)); got != want {
				t.Errorf("test case says rejected %v, isRejection on the whole body %v", got, want)
			}
			if tt.whole && src.read != len(tt.body) {
				t.Errorf("read %d bytes before the caller, want the whole %d", src.read, len(tt.body))
			}
			if !tt.whole && src.read > shortPeek {
				t.Errorf("read %d bytes before the caller, want at most %d", src.read, shortPeek)
			}
			got, err := io.ReadAll(resp.Body)
			if err != nil || string(got) != tt.body {
				t.Errorf("caller read %q, %v; want %q", got, err, tt.body)
			}
		})
	}
}

// trickle returns one byte per Read, then err.
type trickle struct {
	b   []byte
	err error
}

func (r *trickle) Read(p []byte) (int, error) {
	if len(r.b) == 0 {
		return 0, r.err
	}
	if len(p) == 0 {
		return 0, nil
	}
	p[0] = r.b[0]
	r.b = r.b[1:]
	return 1, nil
}

// TestInspectKeepsReadErrors: however a body arrives (a byte at a time, cut
// short as net/http reports it, broken), the verdict is that of the bytes
// that came, and the caller reads those bytes and then the body's own
// error, wherever the inspection stopped.
func TestInspectKeepsReadErrors(t *testing.T) {
	broken := errors.New("connection reset")
	for _, body := range []string{
		`{"errcode":0,"errmsg":"ok","result":{"userid":"manager4220","name":"张三"},"request_id":"5B1A8F1C9C1E"}`,
		`{"errcode":40014,"errmsg":"不合法的access_token","request_id":"16ilz0ntmb4u5"}`,
	} {
		for _, cut := range []int{0, 1, shortPeek - 1, shortPeek, shortPeek + 1, len(body) - 1, len(body)} {
			for _, end := range []error{io.ErrUnexpectedEOF, broken} {
				if cut == len(body) {
					end = io.EOF
				}
				t.Run(fmt.Sprintf("%.12s/cut=%d/%v", body, cut, end), func(t *testing.T) {
					resp := &http.Response{StatusCode: 200, ContentLength: int64(len(body)),
						Header: http.Header{"Content-Type": {"application/json"}},
						Body:   io.NopCloser(&trickle{b: []byte(body[:cut]), err: end})}
					if got, want := inspectResponse(resp, false), isRejection(200, []byte(body[:cut])); got != want {
						t.Errorf("inspectResponse = %v, want %v", got, want)
					}
					got, err := io.ReadAll(resp.Body)
					if string(got) != body[:cut] {
						t.Errorf("caller read %q, want %q", got, body[:cut])
					}
					if end == io.EOF {
						end = nil // as io.ReadAll reports it
					}
					if !errors.Is(err, end) {
						t.Errorf("caller's read error %v, want %v", err, end)
					}
				})
			}
		}
	}
}
