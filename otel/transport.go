package dingtokenotel

import (
	"net/http"

	"github.com/dingtoken/dingtoken"
	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
)

// NewTransport returns t instrumented by otelhttp from the outside, the one
// safe order: each request's span starts, and records the request, before
// the Transport adds the token, so no span attribute, event or status sees
// the token (in the legacy API's URL or the new API's header), and errors
// reach the span already redacted by the Transport. Set t.Manager.Hooks to
// [NewHooks]'s to see, on that one span, that DingTalk rejected the token
// and that the request was sent again. opts are otelhttp's.
//
// Never put otelhttp, or any transport that traces or logs requests, inside
// (as t.Base), nor as the HTTPClient of credentials whose secret travels in
// the URL (LegacyAppCredentials): it would record the token or the secret.
//
// An otelhttp.WithClientTrace option whose httptrace.ClientTrace records
// header fields (WroteHeaderField) sees the token header too: httptrace
// hooks fire inside the Transport, as the request is written. Give
// otelhttptrace WithoutHeaders, or WithRedactedHeaders with
// "x-acs-dingtalk-access-token".
//
// NewTransport panics if t is nil: otelhttp would send the requests without
// a token.
func NewTransport(t *dingtoken.Transport, opts ...otelhttp.Option) http.RoundTripper {
	if t == nil {
		panic("dingtokenotel: NewTransport with a nil *dingtoken.Transport")
	}
	return otelhttp.NewTransport(t, opts...)
}
