package dingtoken

import (
	"bytes"
	"compress/gzip"
	"io"
	"net/http"
	"strings"
	"testing"
)

const legacyOKBody = `{"errcode":0,"errmsg":"ok","result":{"userid":"manager4220","name":"张三"},"request_id":"5B1A8F1C9C1E"}`

// inspectBenchmarks are the answers a Transport meets. legacy_ok is every
// legacy API call's answer; legacy_ok_4KiB a larger one full of digits,
// which the byte scan reads to the end.
var inspectBenchmarks = []struct {
	name   string
	status int
	newAPI bool
	gzip   bool
	body   string
}{
	{"legacy_ok", 200, false, false, legacyOKBody},
	{"legacy_ok_4KiB", 200, false, false, `{"errcode":0,"errmsg":"ok","result":{"list":[` +
		strings.TrimSuffix(strings.Repeat(`{"userid":"user4242","dept_id":4294967,"mobile":"13800004321"},`, 64), ",") + `]}}`},
	{"legacy_40014", 200, false, false, `{"errcode":40014,"errmsg":"不合法的access_token","request_id":"16ilz0ntmb4u5"}`},
	{"new_400", 400, true, false, `{"requestid":"3BC4A5E0","code":"InvalidAuthentication","message":"不合法的access_token"}`},
	{"legacy_ok_gzip", 200, false, true, legacyOKBody},
	{"legacy_40014_gzip", 200, false, true, `{"errcode":40014,"errmsg":"不合法的access_token","request_id":"16ilz0ntmb4u5"}`},
}

// BenchmarkIsRejection: the verdict on a body already read: for most
// answers, the byte scan alone.
func BenchmarkIsRejection(b *testing.B) {
	for _, bm := range inspectBenchmarks {
		if bm.gzip {
			continue
		}
		b.Run(bm.name, func(b *testing.B) {
			body := []byte(bm.body)
			b.SetBytes(int64(len(body)))
			b.ReportAllocs()
			for b.Loop() {
				isRejection(bm.status, body)
			}
		})
	}
}

// BenchmarkInspectResponse: what looking at one answer costs, reading it
// included.
func BenchmarkInspectResponse(b *testing.B) {
	for _, bm := range inspectBenchmarks {
		b.Run(bm.name, func(b *testing.B) {
			sent := []byte(bm.body)
			header := http.Header{"Content-Type": {"application/json;charset=utf-8"}}
			if bm.gzip {
				var buf bytes.Buffer
				zw := gzip.NewWriter(&buf)
				zw.Write(sent)
				zw.Close()
				sent = buf.Bytes()
				header.Set("Content-Encoding", "gzip")
			}
			r := bytes.NewReader(sent)
			body := io.NopCloser(r)
			resp := &http.Response{StatusCode: bm.status, ContentLength: int64(len(sent)), Header: header}
			b.SetBytes(int64(len(sent)))
			b.ReportAllocs()
			for b.Loop() {
				r.Reset(sent)
				resp.Body = body
				inspectResponse(resp, bm.newAPI)
			}
		})
	}
}
