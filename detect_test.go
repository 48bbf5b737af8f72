package dingtoken

import (
	"bytes"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
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
	}
	for _, tt := range tests {
		t.Run(strconv.Itoa(tt.status)+" "+tt.body, func(t *testing.T) {
			if got := isRejection(tt.status, []byte(tt.body)); got != tt.want {
				t.Errorf("isRejection = %v, want %v", got, tt.want)
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
