package dingtalktest

import (
	"encoding/json"
	"net/http"
	"time"
)

// serveAppToken answers POST /v1.0/oauth2/accessToken.
func (s *Server) serveAppToken(w http.ResponseWriter, r *http.Request) {
	var req struct{ AppKey, AppSecret string }
	if !decodeBody(w, r, &req) {
		return
	}
	if s.tokenPreamble(w, r, req.AppKey) {
		return
	}
	value, ttl, ok := s.issueAppToken(req.AppKey, req.AppSecret)
	if !ok {
		writeNewError(w, http.StatusBadRequest, "invalidClientIdOrSecret", "无效的clientId或者clientSecret")
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"accessToken": value, "expireIn": ttl})
}

// serveLegacyToken answers GET /gettoken?appkey=&appsecret=.
func (s *Server) serveLegacyToken(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	appKey := q.Get("appkey")
	if s.tokenPreamble(w, r, appKey) {
		return
	}
	value, ttl, ok := s.issueAppToken(appKey, q.Get("appsecret"))
	if !ok {
		writeJSON(w, http.StatusOK, map[string]any{"errcode": 40089, "errmsg": "不合法的corpid或corpsecret"})
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"errcode": 0, "errmsg": "ok", "access_token": value, "expires_in": ttl})
}

// serveCorpToken answers POST /v1.0/oauth2/corpAccessToken with the error
// codes of docs/01-应用开发/02-4a8AMF6u2A-服务端API/0034-obtain-the-access-token-of-the-authorized-enterprise-1.md.
// Any corp has authorised any suite, so only an empty authCorpId gets
// invalidAuthInfo; a Fault with that code stands for a corp that has not.
func (s *Server) serveCorpToken(w http.ResponseWriter, r *http.Request) {
	var req struct{ SuiteKey, SuiteSecret, AuthCorpID, SuiteTicket string }
	if !decodeBody(w, r, &req) {
		return
	}
	if s.tokenPreamble(w, r, req.SuiteKey) {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	su, ok := s.suites[req.SuiteKey]
	switch {
	case !ok:
		writeNewError(w, http.StatusBadRequest, "invalidSuiteKey", "suitekey不合法")
	case su.secret != req.SuiteSecret:
		writeNewError(w, http.StatusBadRequest, "invalidClientIdOrSecret", "clientId或者clientSecret错误")
	case su.ticket != req.SuiteTicket:
		writeNewError(w, http.StatusBadRequest, "invalidSuiteTicket", "suiteTicket无效")
	case req.AuthCorpID == "":
		writeNewError(w, http.StatusBadRequest, "invalidAuthInfo", "授权关系不存在")
	default:
		// Unlike an internal app's, a corp token is new on every fetch.
		value := s.issueLocked("corp:" + req.SuiteKey + ":" + req.AuthCorpID)
		writeJSON(w, http.StatusOK, map[string]any{"accessToken": value, "expireIn": int(s.ttl / time.Second)})
	}
}

// tokenPreamble counts a token request, applies the delay and any queued
// fault. It reports whether the fault answered the request.
func (s *Server) tokenPreamble(w http.ResponseWriter, r *http.Request, id string) bool {
	s.mu.Lock()
	s.fetches[id]++
	s.mu.Unlock()
	s.waitDelay(r)
	if f, ok := s.nextFault(); ok {
		f.write(w)
		return true
	}
	return false
}

// issueAppToken checks an app's credentials and returns its token: the
// current one, extended, while it is valid (as DingTalk does), else a new one.
func (s *Server) issueAppToken(clientID, secret string) (value string, ttlSeconds int, ok bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if want, known := s.apps[clientID]; !known || want != secret {
		return "", 0, false
	}
	now := time.Now()
	if cur := s.tokens[s.appTokens[clientID]]; cur != nil && !cur.revoked && now.Before(cur.expiry) {
		cur.expiry = now.Add(s.ttl)
		return s.appTokens[clientID], int(s.ttl / time.Second), true
	}
	value = s.issueLocked(clientID)
	s.appTokens[clientID] = value
	return value, int(s.ttl / time.Second), true
}

// issueLocked records a new token for owner; s.mu must be held.
func (s *Server) issueLocked(owner string) string {
	value := newTokenValue()
	s.tokens[value] = &issued{owner: owner, expiry: time.Now().Add(s.ttl)}
	return value
}

func decodeBody(w http.ResponseWriter, r *http.Request, v any) bool {
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<16)).Decode(v); err != nil {
		writeNewError(w, http.StatusBadRequest, "InvalidParameter", "请求体不是合法的JSON")
		return false
	}
	return true
}
