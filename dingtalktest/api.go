package dingtalktest

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"time"
)

// Hosts are DingTalk's API hosts, which [Server.Transport] sends to the simulator.
var Hosts = []string{"api.dingtalk.com", "oapi.dingtalk.com"}

func (s *Server) serveHTTP(w http.ResponseWriter, r *http.Request) {
	switch {
	case r.URL.Path == "/v1.0/oauth2/accessToken" && r.Method == http.MethodPost:
		s.serveAppToken(w, r)
	case r.URL.Path == "/v1.0/oauth2/corpAccessToken" && r.Method == http.MethodPost:
		s.serveCorpToken(w, r)
	case r.URL.Path == "/gettoken":
		s.serveLegacyToken(w, r)
	case r.URL.Path == "/v1.0/oauth2/suiteAccessToken" && r.Method == http.MethodPost:
		s.serveSuiteToken(w, r)
	case r.URL.Path == "/service/get_suite_token" && r.Method == http.MethodPost:
		s.serveLegacySuiteToken(w, r)
	case r.URL.Path == "/v1.0/oauth2/ssoAccessToken" && r.Method == http.MethodPost:
		s.serveSSOToken(w, r)
	case r.URL.Path == "/sso/gettoken":
		s.serveLegacySSOToken(w, r)
	case r.URL.Path == "/v1.0/oauth2/jsapiTickets" && r.Method == http.MethodPost:
		s.serveJSAPITicket(w, r, false)
	case r.URL.Path == "/get_jsapi_ticket":
		s.serveJSAPITicket(w, r, true)
	case clientTokenCorp(r.URL.Path) != "" && r.Method == http.MethodPost:
		s.serveClientToken(w, r, clientTokenCorp(r.URL.Path))
	case !isNewAPI(r) && r.URL.Query().Has("suite_access_token") && !r.URL.Query().Has("access_token"):
		s.serveProtected(w, r, r.URL.Query().Get("suite_access_token"), writeSuiteAuthError)
	case isNewAPI(r):
		s.serveProtected(w, r, r.Header.Get("x-acs-dingtalk-access-token"), writeNewAuthError)
	default:
		s.serveProtected(w, r, r.URL.Query().Get("access_token"), writeLegacyAuthError)
	}
}

// isNewAPI tells the generations apart by host, or by path when the request
// was sent to the simulator's own URL.
func isNewAPI(r *http.Request) bool {
	host := r.Host
	if i := strings.LastIndexByte(host, ':'); i >= 0 {
		host = host[:i]
	}
	switch host {
	case "api.dingtalk.com":
		return true
	case "oapi.dingtalk.com":
		return false
	}
	return strings.HasPrefix(r.URL.Path, "/v1.0/") || strings.HasPrefix(r.URL.Path, "/v2.0/")
}

// tokenState says what is wrong with a token, if anything.
type tokenState int

const (
	tokenValid tokenState = iota
	tokenInvalid
	tokenExpired
)

// serveProtected checks the token and then runs the path's handler, or echoes.
func (s *Server) serveProtected(w http.ResponseWriter, r *http.Request, token string, reject func(http.ResponseWriter, tokenState)) {
	s.mu.Lock()
	s.apiCalls++
	state := s.checkLocked(token)
	if state != tokenValid {
		s.rejected++
	}
	h := s.handlers[r.URL.Path]
	s.mu.Unlock()

	if state != tokenValid {
		reject(w, state)
		return
	}
	if h != nil {
		h.ServeHTTP(w, r)
		return
	}
	body, _ := io.ReadAll(r.Body)
	sum := sha256.Sum256(body)
	echo := map[string]any{"method": r.Method, "path": r.URL.Path, "bodyLength": len(body), "bodySHA256": hex.EncodeToString(sum[:])}
	if isNewAPI(r) {
		writeJSON(w, http.StatusOK, map[string]any{"result": echo})
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"errcode": 0, "errmsg": "ok", "result": echo, "request_id": newRequestID()})
}

func (s *Server) checkLocked(token string) tokenState {
	t := s.tokens[token]
	switch {
	case s.rejectAll || t == nil || t.revoked:
		return tokenInvalid
	case !time.Now().Before(t.expiry):
		return tokenExpired
	}
	return tokenValid
}

// writeLegacyAuthError answers like the legacy API: HTTP 200 and an errcode.
func writeLegacyAuthError(w http.ResponseWriter, state tokenState) {
	code, msg := 40014, "不合法的access_token"
	if state == tokenExpired {
		code, msg = 42001, "access_token超时"
	}
	writeJSON(w, http.StatusOK, map[string]any{"errcode": code, "errmsg": msg, "request_id": newRequestID()})
}

// writeNewAuthError answers like the new API: HTTP 400 InvalidAuthentication.
func writeNewAuthError(w http.ResponseWriter, _ tokenState) {
	writeNewError(w, http.StatusBadRequest, "InvalidAuthentication", "不合法的access_token")
}

func writeNewError(w http.ResponseWriter, status int, code, message string) {
	writeJSON(w, status, map[string]any{"requestid": newRequestID(), "code": code, "message": message})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	body, _ := json.Marshal(v)
	w.Header().Set("Content-Type", "application/json;charset=utf-8")
	w.WriteHeader(status)
	w.Write(body)
}

func newRequestID() string { return strings.ToUpper(newTokenValue()[:24]) }
