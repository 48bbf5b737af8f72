package dingtalktest

import (
	"crypto/sha1"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

func TestSuiteTokensAndTicketPushes(t *testing.T) {
	s := newServer(t)
	s.AddSuite("suite", "ssecret", "ticket-1")
	newBody := func(ticket string) string {
		return `{"suiteKey":"suite","suiteSecret":"ssecret","suiteTicket":"` + ticket + `"}`
	}
	legacyForm := func(ticket string) string {
		return url.Values{"suite_key": {"suite"}, "suite_secret": {"ssecret"}, "suite_ticket": {ticket}}.Encode()
	}
	form := http.Header{"Content-Type": {"application/x-www-form-urlencoded"}}

	status, out := call(t, s, "POST", "https://api.dingtalk.com/v1.0/oauth2/suiteAccessToken", newBody("ticket-1"), nil)
	if status != 200 || out["accessToken"] == nil || out["expireIn"] != float64(7200) {
		t.Errorf("suiteAccessToken: %d %v", status, out)
	}
	_, legacy := call(t, s, "POST", "https://oapi.dingtalk.com/service/get_suite_token", legacyForm("ticket-1"), form)
	if legacy["errcode"] != float64(0) || legacy["suite_access_token"] == nil || legacy["expires_in"] != float64(7200) {
		t.Errorf("get_suite_token (form): %v", legacy)
	}
	_, legacyJSON := call(t, s, "POST", "https://oapi.dingtalk.com/service/get_suite_token",
		`{"suite_key":"suite","suite_secret":"ssecret","suite_ticket":"ticket-1"}`, http.Header{"Content-Type": {"application/json"}})
	if legacyJSON["suite_access_token"] == nil {
		t.Errorf("get_suite_token (JSON): %v", legacyJSON)
	}

	ticket, at := s.PushSuiteTicket("suite")
	if ticket == "" || ticket == "ticket-1" || time.Since(at) > time.Minute || s.SuiteTicket("suite") != ticket {
		t.Fatalf("PushSuiteTicket = %q, %v", ticket, at)
	}
	if status, out := call(t, s, "POST", "https://api.dingtalk.com/v1.0/oauth2/suiteAccessToken", newBody("ticket-1"), nil); status != 400 || out["code"] != "invalidSuiteTicket" {
		t.Errorf("old ticket, new API: %d %v", status, out)
	}
	if _, out := call(t, s, "POST", "https://oapi.dingtalk.com/service/get_suite_token", legacyForm("ticket-1"), form); out["errcode"] != float64(40085) {
		t.Errorf("old ticket, legacy: %v", out)
	}
	if status, out := call(t, s, "POST", "https://api.dingtalk.com/v1.0/oauth2/suiteAccessToken", newBody(ticket), nil); status != 200 || out["accessToken"] == nil {
		t.Errorf("new ticket: %d %v", status, out)
	}
	if status, out := call(t, s, "POST", "https://api.dingtalk.com/v1.0/oauth2/suiteAccessToken", strings.Replace(newBody(ticket), "ssecret", "wrong", 1), nil); status != 400 || out["code"] != "invalidClientIdOrSecret" {
		t.Errorf("wrong secret: %d %v", status, out)
	}
	if _, out := call(t, s, "POST", "https://oapi.dingtalk.com/service/get_suite_token", strings.Replace(legacyForm(ticket), "ssecret", "wrong", 1), form); out["errcode"] != float64(40088) {
		t.Errorf("wrong secret, legacy: %v", out)
	}
	if got := s.Fetches("suite"); got != 8 {
		t.Errorf("Fetches = %d, want 8", got)
	}
	if tk, _ := s.PushSuiteTicket("unknown"); tk != "" {
		t.Errorf("PushSuiteTicket of an unknown suite = %q", tk)
	}
}

// TestLegacySuiteTokenRejections: a legacy call with a bad suite_access_token
// gets 42009 (expired) or 40082 (unknown), as DingTalk answers.
func TestLegacySuiteTokenRejections(t *testing.T) {
	s := newServer(t)
	s.AddSuite("suite", "ssecret", "ticket-1")
	s.SetTokenTTL(time.Second)
	_, out := call(t, s, "POST", "https://api.dingtalk.com/v1.0/oauth2/suiteAccessToken", `{"suiteKey":"suite","suiteSecret":"ssecret","suiteTicket":"ticket-1"}`, nil)
	tok := out["accessToken"].(string)
	u := "https://oapi.dingtalk.com/service/get_auth_info?suite_access_token="
	if _, out := call(t, s, "POST", u+tok, "{}", nil); out["errcode"] != float64(0) {
		t.Errorf("valid suite token: %v", out)
	}
	if _, out := call(t, s, "POST", u+"unknown", "{}", nil); out["errcode"] != float64(40082) {
		t.Errorf("unknown suite token: %v", out)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		_, out = call(t, s, "POST", u+tok, "{}", nil)
		if out["errcode"] != float64(0) || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if out["errcode"] != float64(42009) {
		t.Errorf("expired suite token: %v", out)
	}
}

func TestSSOTokens(t *testing.T) {
	s := newServer(t)
	s.AddSSOCorp("corp", "sso-secret")
	status, out := call(t, s, "POST", "https://api.dingtalk.com/v1.0/oauth2/ssoAccessToken", `{"corpid":"corp","ssoSecret":"sso-secret"}`, nil)
	if status != 200 || out["accessToken"] == nil || out["expireIn"] != float64(7200) {
		t.Errorf("ssoAccessToken: %d %v", status, out)
	}
	_, out = call(t, s, "GET", "https://oapi.dingtalk.com/sso/gettoken?corpid=corp&corpsecret=sso-secret", "", nil)
	if out["errcode"] != float64(0) || out["access_token"] == nil || out["expires_in"] != nil {
		t.Errorf("sso/gettoken: %v (the docs' answer has no lifetime)", out)
	}
	tok := out["access_token"].(string)
	if _, out := call(t, s, "GET", "https://oapi.dingtalk.com/topapi/v2/user/get?access_token="+tok, "", nil); out["errcode"] != float64(0) {
		t.Errorf("API call with an SSO token: %v", out)
	}
	if status, out := call(t, s, "POST", "https://api.dingtalk.com/v1.0/oauth2/ssoAccessToken", `{"corpid":"corp","ssoSecret":"wrong"}`, nil); status != 400 || out["code"] != "invalidClientIdOrSecret" {
		t.Errorf("wrong secret: %d %v", status, out)
	}
	if _, out := call(t, s, "GET", "https://oapi.dingtalk.com/sso/gettoken?corpid=corp&corpsecret=wrong", "", nil); out["errcode"] != float64(40089) {
		t.Errorf("wrong secret, legacy: %v", out)
	}
	if got := s.Fetches("corp"); got != 4 {
		t.Errorf("Fetches = %d, want 4", got)
	}
}

func TestClientCredentialsTokens(t *testing.T) {
	s := newServer(t)
	s.AddSuite("suite", "ssecret", "ticket")
	tests := []struct {
		name, path, body string
		status           int
		code             string
	}{
		{"internal app", "/v1.0/oauth2/dingcorp/token", `{"client_id":"app","client_secret":"secret","grant_type":"client_credentials"}`, 200, ""},
		{"suite in a customer corp", "/v1.0/oauth2/dingcustomer/token", `{"client_id":"suite","client_secret":"ssecret","grant_type":"client_credentials"}`, 200, ""},
		{"wrong secret", "/v1.0/oauth2/dingcorp/token", `{"client_id":"app","client_secret":"wrong","grant_type":"client_credentials"}`, 400, "invalid.client"},
		{"wrong grant", "/v1.0/oauth2/dingcorp/token", `{"client_id":"app","client_secret":"secret","grant_type":"password"}`, 400, "unsupported.grant.type"},
	}
	for _, tt := range tests {
		status, out := call(t, s, "POST", "https://api.dingtalk.com"+tt.path, tt.body, nil)
		if status != tt.status || (tt.code == "" && (out["access_token"] == nil || out["expires_in"] != float64(7200))) || (tt.code != "" && out["code"] != tt.code) {
			t.Errorf("%s: %d %v", tt.name, status, out)
		}
	}
	_, a := call(t, s, "POST", "https://api.dingtalk.com/v1.0/oauth2/dingcustomer/token", tests[1].body, nil)
	tok := a["access_token"].(string)
	ticket := func() string {
		_, out := call(t, s, "POST", "https://api.dingtalk.com/v1.0/oauth2/jsapiTickets", "", http.Header{"X-Acs-Dingtalk-Access-Token": {tok}})
		return out["jsapiTicket"].(string)
	}
	if got := ticket(); got != s.JSAPITicket(CorpOwner("suite", "dingcustomer")) {
		t.Errorf("a suite's corp token got the ticket of another owner")
	}
}

func TestJSAPITickets(t *testing.T) {
	s := newServer(t)
	tok := appToken(t, s, DefaultTokenTTL)
	fetch := func(legacy bool, token string) (int, map[string]any) {
		if legacy {
			return call(t, s, "GET", "https://oapi.dingtalk.com/get_jsapi_ticket?access_token="+token, "", nil)
		}
		return call(t, s, "POST", "https://api.dingtalk.com/v1.0/oauth2/jsapiTickets", "", http.Header{"X-Acs-Dingtalk-Access-Token": {token}})
	}
	_, a := fetch(false, tok)
	_, b := fetch(true, tok)
	if a["jsapiTicket"] == nil || a["jsapiTicket"] != b["ticket"] || a["expireIn"] != float64(7200) || b["expires_in"] != float64(7200) || b["errcode"] != float64(0) {
		t.Fatalf("within validity both endpoints should give the same ticket: %v, %v", a, b)
	}
	if s.JSAPITicket("app") != a["jsapiTicket"] || s.JSAPITicketFetches("app") != 2 {
		t.Errorf("JSAPITicket = %q, fetches %d", s.JSAPITicket("app"), s.JSAPITicketFetches("app"))
	}

	if status, out := fetch(false, "bogus"); status != 400 || out["code"] != "InvalidAuthentication" {
		t.Errorf("bad token, new API: %d %v", status, out)
	}
	if _, out := fetch(true, "bogus"); out["errcode"] != float64(40014) {
		t.Errorf("bad token, legacy: %v", out)
	}

	s.RevokeJSAPITickets()
	if s.JSAPITicket("app") != "" {
		t.Error("a revoked ticket is still current")
	}
	if _, c := fetch(false, tok); c["jsapiTicket"] == a["jsapiTicket"] {
		t.Error("a revoked ticket was handed out again")
	}
}

// TestJSAPITicketMaxAge: refetching extends a ticket, never beyond its max
// age from creation; then a new one is made.
func TestJSAPITicketMaxAge(t *testing.T) {
	s := newServer(t)
	s.SetJSAPITicketMaxAge(300 * time.Millisecond)
	tok := appToken(t, s, DefaultTokenTTL)
	get := func() string {
		_, out := call(t, s, "POST", "https://api.dingtalk.com/v1.0/oauth2/jsapiTickets", "", http.Header{"X-Acs-Dingtalk-Access-Token": {tok}})
		return out["jsapiTicket"].(string)
	}
	first := get()
	if get() != first {
		t.Fatal("a refetch within validity gave another ticket")
	}
	deadline := time.Now().Add(10 * time.Second)
	for s.JSAPITicket("app") != "" && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if got := get(); got == first {
		t.Error("the ticket outlived its max age")
	}
	s.SetJSAPITicketTTL(200 * time.Millisecond)
	s.SetJSAPITicketMaxAge(0)
	second := get()
	for s.JSAPITicket("app") != "" && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if got := get(); got == second {
		t.Error("the ticket outlived its TTL")
	}
}

func TestCheckJSAPISignature(t *testing.T) {
	s := newServer(t)
	if code := s.CheckJSAPISignature("app", "00", "n", 1, "https://x.example/"); code != JSAPITicketUnreadable {
		t.Errorf("no ticket yet: code %d, want 52011", code)
	}
	tok := appToken(t, s, DefaultTokenTTL)
	call(t, s, "POST", "https://api.dingtalk.com/v1.0/oauth2/jsapiTickets", "", http.Header{"X-Acs-Dingtalk-Access-Token": {tok}})
	ticket := s.JSAPITicket("app")
	const page = "https://h5.example.com/p?name=%E9%92%89+x#/route"
	plain := "jsapi_ticket=" + ticket + "&noncestr=abc&timestamp=1736749852931&url=https://h5.example.com/p?name=钉 x"
	s256, s1 := sha256.Sum256([]byte(plain)), sha1.Sum([]byte(plain))
	for name, sig := range map[string]string{"SHA-256": hex.EncodeToString(s256[:]), "SHA-1": hex.EncodeToString(s1[:])} {
		if code := s.CheckJSAPISignature("app", sig, "abc", 1736749852931, page); code != 0 {
			t.Errorf("%s: code %d, want 0", name, code)
		}
		if code := s.CheckJSAPISignature("app", sig, "abd", 1736749852931, page); code != JSAPISignatureInvalid {
			t.Errorf("%s with another nonce: code %d, want 52013", name, code)
		}
	}
}
