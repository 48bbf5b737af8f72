package dingtalktest

import (
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

func newServer(t *testing.T) *Server {
	t.Helper()
	s := NewServer()
	t.Cleanup(s.Close)
	s.AddApp("app", "secret")
	return s
}

// call sends a request through the simulator's transport and decodes the answer.
func call(t *testing.T, s *Server, method, rawURL, body string, header http.Header) (int, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest(method, rawURL, strings.NewReader(body))
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := s.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	raw, _ := io.ReadAll(resp.Body)
	if err := json.Unmarshal(raw, &out); err != nil {
		t.Fatalf("%s %s: body %q is not JSON", method, rawURL, raw)
	}
	return resp.StatusCode, out
}

// appToken fetches the app's token and checks that it lives ttl.
func appToken(t *testing.T, s *Server, ttl time.Duration) string {
	t.Helper()
	status, out := call(t, s, "POST", "https://api.dingtalk.com/v1.0/oauth2/accessToken", `{"appKey":"app","appSecret":"secret"}`, nil)
	if status != 200 || out["expireIn"] != ttl.Seconds() {
		t.Fatalf("accessToken: %d %v", status, out)
	}
	return out["accessToken"].(string)
}

func TestAppTokenIsReissuedUntilRevoked(t *testing.T) {
	s := newServer(t)
	a, b := appToken(t, s, DefaultTokenTTL), appToken(t, s, DefaultTokenTTL)
	if a != b {
		t.Errorf("an app token within validity should be re-issued: %q then %q", a, b)
	}
	_, legacy := call(t, s, "GET", "https://oapi.dingtalk.com/gettoken?appkey=app&appsecret=secret", "", nil)
	if legacy["access_token"] != a || legacy["errcode"] != float64(0) || legacy["expires_in"] != float64(7200) {
		t.Errorf("gettoken = %v, want the same token", legacy)
	}
	s.Revoke(a)
	if c := appToken(t, s, DefaultTokenTTL); c == a {
		t.Errorf("a revoked token was re-issued")
	}
	if got := s.Fetches("app"); got != 4 {
		t.Errorf("Fetches = %d, want 4", got)
	}
}

func TestBadCredentials(t *testing.T) {
	s := newServer(t)
	status, out := call(t, s, "POST", "https://api.dingtalk.com/v1.0/oauth2/accessToken", `{"appKey":"app","appSecret":"wrong"}`, nil)
	if status != 400 || out["code"] != "invalidClientIdOrSecret" || out["requestid"] == "" {
		t.Errorf("new API: %d %v", status, out)
	}
	status, out = call(t, s, "GET", "https://oapi.dingtalk.com/gettoken?appkey=app&appsecret=wrong", "", nil)
	if status != 200 || out["errcode"] != float64(40089) {
		t.Errorf("legacy: %d %v", status, out)
	}
}

func TestProtectedAPIsRejectLikeDingTalk(t *testing.T) {
	s := newServer(t)
	tok := appToken(t, s, DefaultTokenTTL)
	hdr := http.Header{"X-Acs-Dingtalk-Access-Token": {tok}}
	if status, out := call(t, s, "POST", "https://api.dingtalk.com/v1.0/contact/users/me", "{}", hdr); status != 200 || out["result"] == nil {
		t.Errorf("new API with a valid token: %d %v", status, out)
	}
	if status, out := call(t, s, "GET", "https://oapi.dingtalk.com/topapi/v2/user/get?access_token="+url.QueryEscape(tok), "", nil); status != 200 || out["errcode"] != float64(0) {
		t.Errorf("legacy API with a valid token: %d %v", status, out)
	}
	s.Revoke(tok)
	if status, out := call(t, s, "POST", "https://api.dingtalk.com/v1.0/contact/users/me", "{}", hdr); status != 400 || out["code"] != "InvalidAuthentication" {
		t.Errorf("new API with a revoked token: %d %v", status, out)
	}
	if status, out := call(t, s, "GET", "https://oapi.dingtalk.com/topapi/v2/user/get?access_token="+tok, "", nil); status != 200 || out["errcode"] != float64(40014) {
		t.Errorf("legacy API with a revoked token: %d %v", status, out)
	}
	if calls, rejected := s.APICalls(); calls != 4 || rejected != 2 {
		t.Errorf("APICalls = %d, %d; want 4, 2", calls, rejected)
	}
}

func TestExpiredTokenLegacyCode(t *testing.T) {
	s := newServer(t)
	s.SetTokenTTL(time.Second)
	tok := appToken(t, s, time.Second)
	deadline := time.Now().Add(10 * time.Second)
	for s.CurrentToken("app") != "" && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if _, out := call(t, s, "GET", "https://oapi.dingtalk.com/user/get?access_token="+tok, "", nil); out["errcode"] != float64(42001) {
		t.Errorf("legacy API with an expired token: %v", out)
	}
}

func TestCorpTokensAreNewEachFetch(t *testing.T) {
	s := newServer(t)
	s.AddSuite("suite", "ssecret", "ticket")
	body := `{"suiteKey":"suite","suiteSecret":"ssecret","authCorpId":"corp1","suiteTicket":"ticket"}`
	_, a := call(t, s, "POST", "https://api.dingtalk.com/v1.0/oauth2/corpAccessToken", body, nil)
	_, b := call(t, s, "POST", "https://api.dingtalk.com/v1.0/oauth2/corpAccessToken", body, nil)
	if a["accessToken"] == nil || a["accessToken"] == b["accessToken"] {
		t.Errorf("corp tokens %v and %v should be distinct", a, b)
	}
	status, out := call(t, s, "POST", "https://api.dingtalk.com/v1.0/oauth2/corpAccessToken", strings.Replace(body, `"ticket"`, `"old"`, 1), nil)
	if status != 400 || out["code"] != "invalidSuiteTicket" {
		t.Errorf("bad ticket: %d %v", status, out)
	}
}

func TestFaultsAndDelay(t *testing.T) {
	s := newServer(t)
	s.FailTokenRequests(1, Fault{Status: 503})
	s.FailTokenRequests(1, Fault{Body: BusyBody})
	if status, out := call(t, s, "POST", "https://api.dingtalk.com/v1.0/oauth2/accessToken", `{"appKey":"app","appSecret":"secret"}`, nil); status != 503 || out["code"] != "ServiceUnavailable" {
		t.Errorf("first fault: %d %v", status, out)
	}
	if status, out := call(t, s, "GET", "https://oapi.dingtalk.com/gettoken?appkey=app&appsecret=secret", "", nil); status != 200 || out["errcode"] != float64(-1) {
		t.Errorf("second fault: %d %v", status, out)
	}
	s.SetTokenDelay(200 * time.Millisecond)
	start := time.Now()
	appToken(t, s, DefaultTokenTTL)
	if d := time.Since(start); d < 200*time.Millisecond {
		t.Errorf("token answered after %v, want at least the 200ms delay", d)
	}
}

func TestRejectTokensAndHandle(t *testing.T) {
	s := newServer(t)
	s.Handle("/v1.0/custom", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte(`{"custom":true}`))
	}))
	tok := appToken(t, s, DefaultTokenTTL)
	hdr := http.Header{"X-Acs-Dingtalk-Access-Token": {tok}}
	if _, out := call(t, s, "GET", "https://api.dingtalk.com/v1.0/custom", "", hdr); out["custom"] != true {
		t.Errorf("custom handler: %v", out)
	}
	s.RejectTokens(true)
	if status, _ := call(t, s, "GET", "https://api.dingtalk.com/v1.0/custom", "", hdr); status != 400 {
		t.Errorf("RejectTokens: status %d, want 400", status)
	}
}
