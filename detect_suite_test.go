package dingtoken

import "testing"

// TestSuiteTokenRejectionIsDetected pins how the legacy API says a suite
// token is bad (docs/01-应用开发/02-4a8AMF6u2A-服务端API/0013-server-api-error-codes-1.md): 42009 "suitetoken失效" is an
// expired one, as 42001 is for access tokens; 40082 "不合法的suitetoken" is
// an unknown one, as 40014 is. dingtalktest answers both.
func TestSuiteTokenRejectionIsDetected(t *testing.T) {
	for _, body := range []string{
		`{"errcode":42009,"errmsg":"suitetoken失效","request_id":"abc"}`,
		`{"errcode":40082,"errmsg":"不合法的suitetoken","request_id":"abc"}`,
	} {
		if !isRejection(200, []byte(body)) {
			t.Errorf("%s: not seen as a rejected token", body)
		}
	}
}
