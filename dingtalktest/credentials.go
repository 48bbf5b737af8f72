package dingtalktest

import (
	"net/http"
	"strings"
	"time"
)

// credState is the simulator's state for the credentials beyond app and
// corp tokens. It is guarded by Server.mu.
type credState struct {
	sso           map[string]string       // corp ID -> SSO secret
	tickets       map[string]*jsapiTicket // token owner -> its jsapi ticket
	ticketFetches map[string]int          // token owner -> jsapi ticket requests
	ticketTTL     time.Duration           // 0: DefaultJSAPITicketTTL
	ticketMaxAge  time.Duration           // 0: DefaultJSAPITicketMaxAge
}

// initLocked makes the maps; s.mu must be held.
func (c *credState) initLocked() {
	if c.sso == nil {
		c.sso = make(map[string]string)
		c.tickets = make(map[string]*jsapiTicket)
		c.ticketFetches = make(map[string]int)
	}
}

// CorpOwner names a corp's tokens for the simulator's per-owner knobs
// ([Server.JSAPITicket], [Server.JSAPITicketFetches]): the tokens a suite
// gets for a corp that authorised it. An internal app's owner is its client ID.
func CorpOwner(suiteKey, corpID string) string { return "corp:" + suiteKey + ":" + corpID }

// AddSSOCorp registers a corp whose SSO secret fetches SSO tokens (the
// admin-console login token).
func (s *Server) AddSSOCorp(corpID, ssoSecret string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.creds.initLocked()
	s.creds.sso[corpID] = ssoSecret
}

// PushSuiteTicket replaces a suite's ticket with a new one, as DingTalk does
// about every 5 hours, and returns it with its push time: what the
// suite_ticket event would carry, to hand to the code under test. From now
// on only the new ticket fetches tokens. An unknown suite gets "".
func (s *Server) PushSuiteTicket(suiteKey string) (ticket string, pushedAt time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	su, ok := s.suites[suiteKey]
	if !ok {
		return "", time.Time{}
	}
	su.ticket = "ticket" + newTokenValue()
	s.suites[suiteKey] = su
	return su.ticket, time.Now()
}

// SuiteTicket returns the suite's current ticket, or "" for an unknown suite.
func (s *Server) SuiteTicket(suiteKey string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.suites[suiteKey].ticket
}

// serveSuiteToken answers POST /v1.0/oauth2/suiteAccessToken
// (docs/01-应用开发/02-4a8AMF6u2A-服务端API/0036-obtains-the-suite-acess-token-of-third-party-enterprise-applications.md).
func (s *Server) serveSuiteToken(w http.ResponseWriter, r *http.Request) {
	var req struct{ SuiteKey, SuiteSecret, SuiteTicket string }
	if !decodeBody(w, r, &req) {
		return
	}
	if s.tokenPreamble(w, r, req.SuiteKey) {
		return
	}
	value, ttl, code := s.issueSuiteToken(req.SuiteKey, req.SuiteSecret, req.SuiteTicket)
	switch code {
	case "":
		writeJSON(w, http.StatusOK, map[string]any{"accessToken": value, "expireIn": ttl})
	case "invalidSuiteTicket":
		writeNewError(w, http.StatusBadRequest, code, "suiteTicket无效")
	default:
		writeNewError(w, http.StatusBadRequest, code, "clientId或者clientSecret错误")
	}
}

// serveLegacySuiteToken answers POST /service/get_suite_token
// (docs/01-应用开发/02-4a8AMF6u2A-服务端API/1445-obtain-application-suite-ticket.md), with a form as in the docs' example
// or a JSON body.
func (s *Server) serveLegacySuiteToken(w http.ResponseWriter, r *http.Request) {
	var req struct {
		SuiteKey    string `json:"suite_key"`
		SuiteSecret string `json:"suite_secret"`
		SuiteTicket string `json:"suite_ticket"`
	}
	if strings.HasPrefix(r.Header.Get("Content-Type"), "application/json") {
		if !decodeBody(w, r, &req) {
			return
		}
	} else {
		r.ParseForm()
		req.SuiteKey, req.SuiteSecret, req.SuiteTicket = r.PostForm.Get("suite_key"), r.PostForm.Get("suite_secret"), r.PostForm.Get("suite_ticket")
	}
	if s.tokenPreamble(w, r, req.SuiteKey) {
		return
	}
	value, ttl, code := s.issueSuiteToken(req.SuiteKey, req.SuiteSecret, req.SuiteTicket)
	switch code {
	case "":
		writeJSON(w, http.StatusOK, map[string]any{"errcode": 0, "errmsg": "ok", "suite_access_token": value, "expires_in": ttl})
	case "invalidSuiteTicket":
		writeJSON(w, http.StatusOK, map[string]any{"errcode": 40085, "errmsg": "不存在的suiteticket"})
	default:
		writeJSON(w, http.StatusOK, map[string]any{"errcode": 40088, "errmsg": "不合法的套件key或secret"})
	}
}

// issueSuiteToken checks a suite's credentials and ticket and returns a new
// suite token, or the new API's error code.
func (s *Server) issueSuiteToken(suiteKey, secret, ticket string) (value string, ttlSeconds int, code string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	su, ok := s.suites[suiteKey]
	switch {
	case !ok:
		return "", 0, "invalidSuiteKey"
	case su.secret != secret:
		return "", 0, "invalidClientIdOrSecret"
	case su.ticket != ticket:
		return "", 0, "invalidSuiteTicket"
	}
	return s.issueLocked("suite:" + suiteKey), int(s.ttl / time.Second), ""
}

// serveSSOToken answers POST /v1.0/oauth2/ssoAccessToken
// (docs/01-应用开发/02-4a8AMF6u2A-服务端API/0025-obtain-the-access-token-of-the-micro-application-background-without-log-on.md).
func (s *Server) serveSSOToken(w http.ResponseWriter, r *http.Request) {
	var req struct {
		CorpID    string `json:"corpid"`
		SSOSecret string `json:"ssoSecret"`
	}
	if !decodeBody(w, r, &req) {
		return
	}
	if s.tokenPreamble(w, r, req.CorpID) {
		return
	}
	value, ttl, ok := s.issueSSOToken(req.CorpID, req.SSOSecret)
	if !ok {
		writeNewError(w, http.StatusBadRequest, "invalidClientIdOrSecret", "无效的clientId或者clientSecret")
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"accessToken": value, "expireIn": ttl})
}

// serveLegacySSOToken answers GET /sso/gettoken?corpid=&corpsecret=
// (docs/01-应用开发/02-4a8AMF6u2A-服务端API/1449-obtain-the-ssotoken-for-micro-application-background-logon-free.md),
// whose answer, like DingTalk's, has no lifetime.
func (s *Server) serveLegacySSOToken(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	if s.tokenPreamble(w, r, q.Get("corpid")) {
		return
	}
	value, _, ok := s.issueSSOToken(q.Get("corpid"), q.Get("corpsecret"))
	if !ok {
		writeJSON(w, http.StatusOK, map[string]any{"errcode": 40089, "errmsg": "不合法的corpid或corpsecret"})
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"errcode": 0, "errmsg": "ok", "access_token": value})
}

// issueSSOToken checks a corp's SSO secret and returns a new SSO token.
func (s *Server) issueSSOToken(corpID, secret string) (value string, ttlSeconds int, ok bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.creds.initLocked()
	if want, known := s.creds.sso[corpID]; !known || want != secret {
		return "", 0, false
	}
	return s.issueLocked("sso:" + corpID), int(s.ttl / time.Second), true
}

// clientTokenCorp returns the corp ID of a POST /v1.0/oauth2/{corpId}/token
// path, or "".
func clientTokenCorp(path string) string {
	corp, ok := strings.CutPrefix(path, "/v1.0/oauth2/")
	if !ok {
		return ""
	}
	corp, ok = strings.CutSuffix(corp, "/token")
	if !ok || strings.Contains(corp, "/") {
		return ""
	}
	return corp
}

// serveClientToken answers POST /v1.0/oauth2/{corpId}/token (docs/01-应用开发/02-4a8AMF6u2A-服务端API/0037-api-gettoken.md):
// an app's client ID and secret, or a suite's for a corp that authorised it
// (any corp, in the simulator), in snake_case both ways. Each fetch gets a
// new token.
func (s *Server) serveClientToken(w http.ResponseWriter, r *http.Request, corpID string) {
	var req struct {
		ClientID     string `json:"client_id"`
		ClientSecret string `json:"client_secret"`
		GrantType    string `json:"grant_type"`
	}
	if !decodeBody(w, r, &req) {
		return
	}
	if s.tokenPreamble(w, r, req.ClientID) {
		return
	}
	if req.GrantType != "client_credentials" {
		writeNewError(w, http.StatusBadRequest, "unsupported.grant.type", "unsupported.grant.type")
		return
	}
	s.mu.Lock()
	owner := ""
	if secret, ok := s.apps[req.ClientID]; ok && secret == req.ClientSecret {
		owner = req.ClientID
	} else if su, ok := s.suites[req.ClientID]; ok && su.secret == req.ClientSecret {
		owner = CorpOwner(req.ClientID, corpID)
	}
	value := ""
	if owner != "" {
		value = s.issueLocked(owner)
	}
	ttl := int(s.ttl / time.Second)
	s.mu.Unlock()
	if value == "" {
		writeNewError(w, http.StatusBadRequest, "invalid.client", "invalid.client")
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"access_token": value, "expires_in": ttl})
}

// writeSuiteAuthError answers a legacy call with a bad suite_access_token:
// 42009 for an expired one, 40082 for one DingTalk does not know
// (docs/01-应用开发/02-4a8AMF6u2A-服务端API/0013-server-api-error-codes-1.md).
func writeSuiteAuthError(w http.ResponseWriter, state tokenState) {
	code, msg := 40082, "不合法的suitetoken"
	if state == tokenExpired {
		code, msg = 42009, "suitetoken失效"
	}
	writeJSON(w, http.StatusOK, map[string]any{"errcode": code, "errmsg": msg, "request_id": newRequestID()})
}
