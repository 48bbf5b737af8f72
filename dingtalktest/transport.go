package dingtalktest

import (
	"net/http"
	"net/url"
	"slices"
)

// Transport returns a RoundTripper that sends requests for DingTalk's hosts
// to the simulator (over plain HTTP on loopback) and every other request to
// the network as usual. Requests keep their DingTalk URL and Host header, so
// code under test is unchanged.
func (s *Server) Transport() http.RoundTripper {
	target, _ := url.Parse(s.URL)
	return &routeTransport{target: target, base: s.srv.Client().Transport}
}

// Client returns an http.Client that uses [Server.Transport].
func (s *Server) Client() *http.Client { return &http.Client{Transport: s.Transport()} }

type routeTransport struct {
	target *url.URL
	base   http.RoundTripper
}

func (t *routeTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if !slices.Contains(Hosts, req.URL.Hostname()) {
		return t.base.RoundTrip(req)
	}
	// The RoundTripper contract forbids changing the caller's request.
	r := req.Clone(req.Context())
	r.Host = req.URL.Host
	r.URL.Scheme = t.target.Scheme
	r.URL.Host = t.target.Host
	return t.base.RoundTrip(r)
}

// CloseIdleConnections closes the idle connections to the simulator.
func (t *routeTransport) CloseIdleConnections() {
	if c, ok := t.base.(interface{ CloseIdleConnections() }); ok {
		c.CloseIdleConnections()
	}
}
