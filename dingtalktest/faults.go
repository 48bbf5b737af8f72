package dingtalktest

import (
	"fmt"
	"net/http"
	"time"
)

// Bodies DingTalk sends when things go wrong, for use in a [Fault].
const (
	// BusyBody is the legacy "system busy" answer, sent with HTTP 200.
	BusyBody = `{"errcode":-1,"errmsg":"系统繁忙"}`
	// IPBanPage is the kind of HTML page a gateway shows a banned IP.
	IPBanPage = "<!DOCTYPE html><html><head><title>403 Forbidden</title></head><body><h1>访问被拒绝</h1><p>您的IP访问过于频繁</p></body></html>"
	// InvalidJSONBody is a truncated JSON answer.
	InvalidJSONBody = `{"accessToken":"abc`
	// EmptyTokenBody is a success without a token.
	EmptyTokenBody = `{"accessToken":"","expireIn":7200}`
)

// Fault is an answer the token endpoints give instead of a token.
type Fault struct {
	Status      int         // HTTP status; if zero, 200
	Body        string      // if empty, DingTalk's error body for Status
	ContentType string      // if empty, application/json
	Header      http.Header // extra headers, such as Retry-After
}

// FailTokenRequests makes the next n token requests (any endpoint, any app)
// answer with f.
func (s *Server) FailTokenRequests(n int, f Fault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for range n {
		s.faults = append(s.faults, f)
	}
}

// ClearFaults drops the faults FailTokenRequests queued that have not been
// used yet.
func (s *Server) ClearFaults() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = nil
}

// nextFault takes the next queued fault, if any.
func (s *Server) nextFault() (Fault, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.faults) == 0 {
		return Fault{}, false
	}
	f := s.faults[0]
	s.faults = s.faults[1:]
	return f, true
}

func (f Fault) write(w http.ResponseWriter) {
	status := f.Status
	if status == 0 {
		status = http.StatusOK
	}
	body := f.Body
	if body == "" {
		body = fmt.Sprintf(`{"requestid":"%s","code":"%s","message":"%s"}`, newRequestID(), errorCodeFor(status), http.StatusText(status))
	}
	ct := f.ContentType
	if ct == "" {
		ct = "application/json;charset=utf-8"
	}
	for k, vs := range f.Header {
		w.Header()[k] = vs
	}
	w.Header().Set("Content-Type", ct)
	w.WriteHeader(status)
	w.Write([]byte(body))
}

// errorCodeFor returns the new API's error code for an HTTP status.
func errorCodeFor(status int) string {
	switch {
	case status == http.StatusTooManyRequests:
		return "Throttling.Api"
	case status >= 500:
		return "ServiceUnavailable"
	default:
		return "InvalidParameter"
	}
}

// waitDelay sleeps for the configured token delay, or less if the request
// is cancelled or the server closes.
func (s *Server) waitDelay(r *http.Request) {
	s.mu.Lock()
	d := s.delay
	s.mu.Unlock()
	if d <= 0 {
		return
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-r.Context().Done():
	case <-s.closed:
	}
}
