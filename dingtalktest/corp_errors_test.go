package dingtalktest

import "testing"

// TestCorpTokenErrorCodes: corpAccessToken refuses an unknown suite key and
// a corp without an authorisation with the codes DingTalk's docs give
// (docs/01-应用开发/02-4a8AMF6u2A-服务端API/0034-obtain-the-access-token-of-the-authorized-enterprise-1.md, 错误码).
func TestCorpTokenErrorCodes(t *testing.T) {
	tests := []struct{ name, body, wantCode string }{
		{"unknown suite key", `{"suiteKey":"nobody","suiteSecret":"s","authCorpId":"ding1","suiteTicket":"t"}`, "invalidSuiteKey"},
		{"wrong secret", `{"suiteKey":"suite","suiteSecret":"wrong","authCorpId":"ding1","suiteTicket":"t"}`, "invalidClientIdOrSecret"},
		{"stale ticket", `{"suiteKey":"suite","suiteSecret":"s","authCorpId":"ding1","suiteTicket":"old"}`, "invalidSuiteTicket"},
		{"no corp", `{"suiteKey":"suite","suiteSecret":"s","authCorpId":"","suiteTicket":"t"}`, "invalidAuthInfo"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newServer(t)
			s.AddSuite("suite", "s", "t")
			status, out := call(t, s, "POST", "https://api.dingtalk.com/v1.0/oauth2/corpAccessToken", tt.body, nil)
			if status != 400 || out["code"] != tt.wantCode {
				t.Errorf("got %d %v, want 400 with code %s", status, out, tt.wantCode)
			}
		})
	}
}
