// Package wiretest records the tokens that requests carry as they go on the
// wire, for tests that check a Transport never sends two tokens, or a token
// where it should not.
package wiretest

import (
	"net/http"
	"net/url"
	"strings"
	"sync"
)

// Recorder is an http.RoundTripper that records the scheme, token headers
// and access_token parameters of every request, and sends it on to Next.
type Recorder struct {
	Next http.RoundTripper

	mu   sync.Mutex // guards sent
	sent []Sent
}

// Sent is what one request carried.
type Sent struct {
	Scheme  string
	Headers []string // values of every header named x-acs-dingtalk-access-token, in any case
	Params  []string // values of every access_token parameter
}

// RoundTrip records r and sends it on.
func (w *Recorder) RoundTrip(r *http.Request) (*http.Response, error) {
	s := Sent{Scheme: r.URL.Scheme}
	for k, vs := range r.Header {
		if strings.EqualFold(k, "x-acs-dingtalk-access-token") {
			s.Headers = append(s.Headers, vs...)
		}
	}
	q, _ := url.ParseQuery(r.URL.RawQuery)
	s.Params = q["access_token"]
	w.mu.Lock()
	w.sent = append(w.sent, s)
	w.mu.Unlock()
	return w.Next.RoundTrip(r)
}

// Requests returns what every request so far carried, in order.
func (w *Recorder) Requests() []Sent {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]Sent(nil), w.sent...)
}

// Only reports the one token s carries, and whether it carries exactly one,
// in the place its API reads it: the header for the new API, the query for
// the legacy one.
func (s Sent) Only(newAPI bool) (string, bool) {
	if newAPI && len(s.Headers) == 1 && len(s.Params) == 0 {
		return s.Headers[0], true
	}
	if !newAPI && len(s.Params) == 1 && len(s.Headers) == 0 {
		return s.Params[0], true
	}
	return "", false
}
