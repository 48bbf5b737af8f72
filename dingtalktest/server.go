// Package dingtalktest runs a DingTalk simulator on loopback for tests: the
// token endpoints of the new and legacy APIs and of ISV suites, protected
// APIs of both generations that reject bad tokens exactly as DingTalk does,
// counters, and knobs to break it on purpose.
//
// Code under test keeps DingTalk's real URLs: [Server.Transport] sends
// requests for api.dingtalk.com and oapi.dingtalk.com to the simulator.
//
//	srv := dingtalktest.NewServer()
//	defer srv.Close()
//	srv.AddApp("ding-app", "secret")
//	client := &http.Client{Transport: &dingtoken.Transport{
//		Fetcher: &dingtoken.AppCredentials{ClientID: "ding-app", ClientSecret: "secret", HTTPClient: srv.Client()},
//		Base:    srv.Transport(),
//		Manager: &dingtoken.Manager{}, // one per test: DefaultManager's cache outlives the simulator
//	}}
package dingtalktest

import (
	"crypto/rand"
	"encoding/hex"
	"net/http"
	"net/http/httptest"
	"sync"
	"time"
)

// DefaultTokenTTL is how long the simulator's tokens live, like DingTalk's.
const DefaultTokenTTL = 7200 * time.Second

// Server is a running DingTalk simulator. Its methods are safe for
// concurrent use.
type Server struct {
	// URL is the simulator's base URL, http://127.0.0.1:port. Both API
	// generations are served under it.
	URL string

	srv       *httptest.Server
	closed    chan struct{} // closed by Close, to cut delays short
	closeOnce sync.Once

	mu        sync.Mutex        // guards everything below
	apps      map[string]string // client ID -> secret
	suites    map[string]suite  // suite key -> secret and ticket
	appTokens map[string]string // client ID -> its current token
	tokens    map[string]*issued
	fetches   map[string]int // client ID or suite key -> token requests
	ttl       time.Duration
	delay     time.Duration
	faults    []Fault
	handlers  map[string]http.Handler
	rejectAll bool
	apiCalls  int
	rejected  int
	creds     credState // JSAPI tickets and SSO corps (credentials.go); lazily initialised
}

type suite struct{ secret, ticket string }

// issued is a token the simulator handed out.
type issued struct {
	owner   string // client ID, or suite key and corp
	expiry  time.Time
	revoked bool
}

// NewServer starts a simulator. Call Close when done.
func NewServer() *Server {
	s := &Server{
		closed:    make(chan struct{}),
		apps:      make(map[string]string),
		suites:    make(map[string]suite),
		appTokens: make(map[string]string),
		tokens:    make(map[string]*issued),
		fetches:   make(map[string]int),
		handlers:  make(map[string]http.Handler),
		ttl:       DefaultTokenTTL,
	}
	s.srv = httptest.NewServer(http.HandlerFunc(s.serveHTTP))
	s.URL = s.srv.URL
	return s
}

// Close stops the simulator, cutting any configured delay short. Calling it
// again does nothing.
func (s *Server) Close() {
	s.closeOnce.Do(func() {
		close(s.closed)
		s.srv.Close()
	})
}

// AddApp registers an internal app that may fetch tokens.
func (s *Server) AddApp(clientID, secret string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.apps[clientID] = secret
}

// AddSuite registers an ISV suite whose corp tokens may be fetched with the
// given secret and suite ticket, for any corp.
func (s *Server) AddSuite(suiteKey, secret, ticket string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.suites[suiteKey] = suite{secret: secret, ticket: ticket}
}

// Fetches returns how many token requests reached the simulator for a client
// ID, a suite key (its suite and corp tokens) or an SSO corp ID, failed ones
// included.
func (s *Server) Fetches(id string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.fetches[id]
}

// TotalFetches returns how many token requests reached the simulator.
func (s *Server) TotalFetches() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, c := range s.fetches {
		n += c
	}
	return n
}

// CurrentToken returns the token the simulator would re-issue to an app, or
// "" if it has none that is valid.
func (s *Server) CurrentToken(clientID string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	v := s.appTokens[clientID]
	if t := s.tokens[v]; t == nil || t.revoked || !time.Now().Before(t.expiry) {
		return ""
	}
	return v
}

// Tokens returns every token issued so far, for tests that check none of
// them leaked into a log or an error.
func (s *Server) Tokens() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]string, 0, len(s.tokens))
	for v := range s.tokens {
		out = append(out, v)
	}
	return out
}

// Revoke makes a token invalid, as when DingTalk invalidates it early.
func (s *Server) Revoke(token string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if t := s.tokens[token]; t != nil {
		t.revoked = true
	}
}

// RevokeAll makes every token issued so far invalid.
func (s *Server) RevokeAll() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, t := range s.tokens {
		t.revoked = true
	}
}

// SetTokenTTL sets the lifetime of tokens issued from now on (whole seconds;
// DefaultTokenTTL until set). Re-issued app tokens are extended by it.
func (s *Server) SetTokenTTL(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.ttl = d
}

// SetTokenDelay makes every token endpoint wait d before answering.
func (s *Server) SetTokenDelay(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.delay = d
}

// RejectTokens makes every protected API call answer as if its token were
// invalid, valid or not, until called with false.
func (s *Server) RejectTokens(on bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.rejectAll = on
}

// APICalls returns how many protected API calls reached the simulator, and
// how many of them it rejected for their token.
func (s *Server) APICalls() (calls, rejected int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.apiCalls, s.rejected
}

// Handle serves path (both generations) with h once the request's token has
// been checked; without it, such a call gets a small echo of the request.
func (s *Server) Handle(path string, h http.Handler) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.handlers[path] = h
}

// newTokenValue returns a fresh random token.
func newTokenValue() string {
	var b [16]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
