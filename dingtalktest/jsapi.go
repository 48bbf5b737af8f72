package dingtalktest

import (
	"crypto/sha1"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Lifetimes of the simulator's jsapi tickets, as DingTalk's docs give them
// (docs/01-应用开发/03-Ogu5SlPY4t-客户端JSAPI/0003-jsapi-authentication.md): each fetch within validity returns the same
// ticket extended by 2 hours, never beyond 24 hours from its creation.
const (
	DefaultJSAPITicketTTL    = 7200 * time.Second
	DefaultJSAPITicketMaxAge = 24 * time.Hour
)

// Error codes a page's dd.config reports, from [Server.CheckJSAPISignature]
// (docs/01-应用开发/02-4a8AMF6u2A-服务端API/0013-server-api-error-codes-1.md).
const (
	JSAPITicketUnreadable = 52011 // jsapi ticket 读取失败: the owner has no valid ticket
	JSAPISignatureInvalid = 52013 // 签名校验失败: the signature does not match the current ticket
)

// jsapiTicket is a ticket the simulator handed out.
type jsapiTicket struct {
	value   string
	created time.Time
	expiry  time.Time
	revoked bool
}

func (t *jsapiTicket) validAt(now time.Time) bool {
	return t != nil && !t.revoked && now.Before(t.expiry)
}

// SetJSAPITicketTTL sets how long a ticket lives after each fetch (whole
// seconds; DefaultJSAPITicketTTL until set).
func (s *Server) SetJSAPITicketTTL(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.creds.ticketTTL = d
}

// SetJSAPITicketMaxAge sets how long a ticket lives at most from its
// creation, however often it is fetched (DefaultJSAPITicketMaxAge until set).
func (s *Server) SetJSAPITicketMaxAge(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.creds.ticketMaxAge = d
}

// RevokeJSAPITickets makes every jsapi ticket issued so far invalid: the
// next fetch gets a new one, and pages signed with an old one fail.
func (s *Server) RevokeJSAPITickets() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, t := range s.creds.tickets {
		t.revoked = true
	}
}

// JSAPITicket returns the valid jsapi ticket of a token owner (an app's
// client ID, or [CorpOwner]), or "" if it has none.
func (s *Server) JSAPITicket(owner string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if t := s.creds.tickets[owner]; t.validAt(time.Now()) {
		return t.value
	}
	return ""
}

// JSAPITicketFetches returns how many jsapi ticket requests with a valid
// token of owner reached the simulator.
func (s *Server) JSAPITicketFetches(owner string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.creds.ticketFetches[owner]
}

// CheckJSAPISignature checks a dd.config signature as DingTalk does when a
// page of owner's app calls dd.config, and returns the error code the page's
// dd.error would get, or 0 if the signature is valid. It accepts SHA-256
// (DingTalk's current docs) and SHA-1 (its earlier docs) over
// "jsapi_ticket=…&noncestr=…&timestamp=…&url=…", with the page URL's
// fragment dropped and its query decoded, as the docs' code does (escaped
// bytes that are not UTF-8 becoming U+FFFD).
func (s *Server) CheckJSAPISignature(owner, signature, nonceStr string, timestamp int64, pageURL string) int {
	ticket := s.JSAPITicket(owner)
	if ticket == "" {
		return JSAPITicketUnreadable
	}
	plain := "jsapi_ticket=" + ticket + "&noncestr=" + nonceStr + "&timestamp=" + strconv.FormatInt(timestamp, 10) + "&url=" + signedURL(pageURL)
	s256 := sha256.Sum256([]byte(plain))
	s1 := sha1.Sum([]byte(plain))
	for _, want := range []string{hex.EncodeToString(s256[:]), hex.EncodeToString(s1[:])} {
		if subtle.ConstantTimeCompare([]byte(strings.ToLower(signature)), []byte(want)) == 1 {
			return 0
		}
	}
	return JSAPISignatureInvalid
}

// signedURL rebuilds a page URL as the docs' Java decodeUrl does with
// java.net.URL: protocol (lower case), authority and path as given, the query
// URL-decoded by javaURLDecode; no fragment. java.net.URL checks no escape,
// so neither does this: a '%' without two hex digits after it in the path,
// the userinfo or the fragment leaves the rest as DingTalk reads it (Go's
// url.Parse refuses such a URL). It is written apart from dingtoken's own,
// so the two check each other.
func signedURL(pageURL string) string {
	rest, _, _ := strings.Cut(pageURL, "#")
	colon := strings.IndexByte(rest, ':')
	if colon <= 0 || !isURLScheme(rest[:colon]) {
		return rest
	}
	out := strings.ToLower(rest[:colon]) + ":"
	rest = rest[colon+1:]
	if i := strings.IndexByte(rest, '?'); i >= 0 {
		q, ok := javaURLDecode(rest[i+1:])
		if !ok {
			q = rest[i+1:]
		}
		return out + rest[:i] + "?" + q
	}
	return out + rest
}

// isURLScheme reports whether s is a scheme as java.net.URL reads one: a
// letter, then letters, digits, '+', '-' or '.'.
func isURLScheme(s string) bool {
	const letters = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
	for i := 0; i < len(s); i++ {
		if !strings.ContainsRune(letters, rune(s[i])) && (i == 0 || !strings.ContainsRune("0123456789+-.", rune(s[i]))) {
			return false
		}
	}
	return s != ""
}

// serveJSAPITicket answers POST /v1.0/oauth2/jsapiTickets
// (docs/01-应用开发/02-4a8AMF6u2A-服务端API/0039-create-a-jsapi-ticket.md) and, with legacy, GET /get_jsapi_ticket
// (docs/01-应用开发/02-4a8AMF6u2A-服务端API/1447-obtain-jsapi-ticket.md). The token is checked like any API call's.
func (s *Server) serveJSAPITicket(w http.ResponseWriter, r *http.Request, legacy bool) {
	token, reject := r.Header.Get("x-acs-dingtalk-access-token"), writeNewAuthError
	if legacy {
		token, reject = r.URL.Query().Get("access_token"), writeLegacyAuthError
	}
	s.mu.Lock()
	s.apiCalls++
	state := s.checkLocked(token)
	if state != tokenValid {
		s.rejected++
		s.mu.Unlock()
		reject(w, state)
		return
	}
	value, ttl := s.issueTicketLocked(s.tokens[token].owner)
	s.mu.Unlock()
	if legacy {
		writeJSON(w, http.StatusOK, map[string]any{"errcode": 0, "errmsg": "ok", "ticket": value, "expires_in": ttl})
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"jsapiTicket": value, "expireIn": ttl})
}

// issueTicketLocked returns owner's ticket: the current one extended, while
// it is valid, else a new one. The answer always says the full TTL, as the
// docs describe a fetch ("续期了 2 小时"), even when the 24-hour cap will end
// the ticket sooner. s.mu must be held.
func (s *Server) issueTicketLocked(owner string) (value string, ttlSeconds int) {
	s.creds.initLocked()
	s.creds.ticketFetches[owner]++
	ttl, maxAge := s.creds.ticketTTL, s.creds.ticketMaxAge
	if ttl <= 0 {
		ttl = DefaultJSAPITicketTTL
	}
	if maxAge <= 0 {
		maxAge = DefaultJSAPITicketMaxAge
	}
	now := time.Now()
	t := s.creds.tickets[owner]
	if !t.validAt(now) || !now.Before(t.created.Add(maxAge)) {
		t = &jsapiTicket{value: "jsticket" + newTokenValue(), created: now}
		s.creds.tickets[owner] = t
	}
	t.expiry = now.Add(ttl)
	if limit := t.created.Add(maxAge); t.expiry.After(limit) {
		t.expiry = limit
	}
	return t.value, int(ttl / time.Second)
}
