package dingtoken

import "testing"

// TestSuiteTokenRejections: the legacy API says a suite token is bad with
// 42009 "suitetoken失效" (expired, as 42001 for access tokens) or 40082
// "不合法的suitetoken" (unknown, as 40014)
// (docs/01-应用开发/02-4a8AMF6u2A-服务端API/0013-server-api-error-codes-1.md).
// WithToken, with which a suite token is passed, acts on them; a Transport,
// which never sends a suite token, leaves its own token alone.
func TestSuiteTokenRejections(t *testing.T) {
	for _, body := range []string{
		`{"errcode":42009,"errmsg":"suitetoken失效","request_id":"abc"}`,
		`{"errcode":40082,"errmsg":"不合法的suitetoken","request_id":"abc"}`,
	} {
		if isRejection(200, []byte(body)) {
			t.Errorf("%s: a Transport would drop its own access token for it", body)
		}
		if err := parseAPIError(200, []byte(body)); !IsTokenRejected(err) {
			t.Errorf("%s: IsTokenRejected = false, want true", body)
		}
	}
}
