package dingtoken

import (
	"net/http"
	"net/url"
	"slices"
	"strings"
)

// TokenPlaceholder, put on a request where a token goes (the
// x-acs-dingtalk-access-token header or the access_token query parameter),
// asks a [Transport] for the current token there. It serves SDKs that insist
// on being given a token before they send a request.
const TokenPlaceholder = "dingtoken-current-token"

// tokenHeader is the new API's token header, in canonical form.
const tokenHeader = "X-Acs-Dingtalk-Access-Token"

// tokenParam is the legacy API's token query parameter.
const tokenParam = "access_token"

// isTokenHeader reports whether k names the token header, in any
// capitalisation: the official SDK's runtime sends it in lower case.
func isTokenHeader(k string) bool {
	return len(k) == len(tokenHeader) && strings.EqualFold(k, tokenHeader)
}

// copyHeader returns a copy of h, with room for the token header and
// without any token header, and whether h had one. The new API's requests
// need the copy anyway, so finding a caller's token header costs them
// nothing more.
func copyHeader(h http.Header) (http.Header, bool) {
	c := make(http.Header, len(h)+1)
	if len(h) == 0 {
		return c, false // no map iteration to start
	}
	found := false
	for k, v := range h {
		if isTokenHeader(k) {
			found = true
			continue
		}
		c[k] = v
	}
	return c, found
}

// hasTokenHeader reports whether h has a token header, even an empty one.
func hasTokenHeader(h http.Header) bool {
	if len(h) == 0 {
		return false // most requests to the legacy API: no map iteration to start
	}
	for k := range h {
		if isTokenHeader(k) {
			return true
		}
	}
	return false
}

// hasTokenParam reports whether rawQuery has an access_token parameter, even
// an empty one. It allocates nothing, and rules out most queries with two
// byte searches: the key is access_token, or an escaped form with a '%'.
func hasTokenParam(rawQuery string) bool {
	if strings.IndexByte(rawQuery, '%') < 0 && (strings.IndexByte(rawQuery, '_') < 0 || !strings.Contains(rawQuery, "_token")) {
		return false
	}
	for rawQuery != "" {
		var seg string
		seg, rawQuery, _ = strings.Cut(rawQuery, "&")
		key, _, _ := strings.Cut(seg, "=")
		if isTokenParamKey(key) {
			return true
		}
	}
	return false
}

// callerTokens returns the non-empty values of req's token headers and
// access_token parameters.
func callerTokens(req *http.Request) []string {
	var values []string
	for k, vs := range req.Header {
		if isTokenHeader(k) {
			for _, v := range vs {
				if v = strings.TrimSpace(v); v != "" {
					values = append(values, v)
				}
			}
		}
	}
	eachTokenParam(req.URL.RawQuery, func(raw string, _, _ int) bool {
		if v, err := url.QueryUnescape(raw); err == nil && v != "" {
			values = append(values, v)
		} else if err != nil {
			values = append(values, raw) // not a token of ours; kept so the request passes untouched
		}
		return true
	})
	return values
}

// withoutOurTokens returns req, bound for a host that gets no token,
// without the tokens on it that are TokenPlaceholder or that the Manager
// issued for t.Fetcher (the caller's own, carried over by http.Client to
// the target of a redirect): a copy if it had any, else req itself. Other
// tokens stay, each decided on its own.
func (t *Transport) withoutOurTokens(req *http.Request) *http.Request {
	header, query := hasTokenHeader(req.Header), hasTokenParam(req.URL.RawQuery)
	if t.Fetcher == nil || !header && !query {
		return req
	}
	m := t.manager()
	ours := func(v string) bool { return m.ours(t.Fetcher, strings.TrimSpace(v)) }
	var h http.Header
	if header {
		h = headerWithout(req.Header, ours)
	}
	q := req.URL.RawQuery
	if query {
		q = tokenParamsWithout(q, func(raw string) bool {
			v, err := url.QueryUnescape(raw)
			return err == nil && ours(v)
		})
	}
	if h == nil && q == req.URL.RawQuery {
		return req
	}
	c := &requestCopy{req: *req, url: *req.URL}
	c.req.URL = &c.url
	c.url.RawQuery = q
	if h != nil {
		c.req.Header = h
	}
	return &c.req
}

// headerWithout returns a copy of h without the token header values that
// drop picks, or nil if it picks none.
func headerWithout(h http.Header, drop func(string) bool) http.Header {
	var c http.Header
	for k, vs := range h {
		if !isTokenHeader(k) || !slices.ContainsFunc(vs, drop) {
			continue
		}
		if c == nil {
			c = h.Clone()
		}
		kept := slices.DeleteFunc(slices.Clone(vs), drop)
		if len(kept) == 0 {
			delete(c, k)
		} else {
			c[k] = kept
		}
	}
	return c
}

// issuedAll reports whether every value is TokenPlaceholder or a token m
// issued for f, so that the current token may take their place. With no
// values (only empty token fields) it is true: there is nothing to keep.
func (m *Manager) issuedAll(f Fetcher, values []string) bool {
	for _, v := range values {
		if !m.ours(f, v) {
			return false
		}
	}
	return true
}

// ours reports whether v, a token found on a request, is TokenPlaceholder
// or a token m issued for f.
func (m *Manager) ours(f Fetcher, v string) bool {
	return v == TokenPlaceholder || m.issuedToken(f, v)
}

// eachTokenParam calls fn with the raw value of each access_token parameter
// in rawQuery and the bounds of its "key=value" segment, until fn returns
// false. A key is compared unescaped, as DingTalk reads it.
func eachTokenParam(rawQuery string, fn func(raw string, start, end int) bool) {
	for start := 0; start < len(rawQuery); {
		end := strings.IndexByte(rawQuery[start:], '&')
		if end < 0 {
			end = len(rawQuery)
		} else {
			end += start
		}
		key, value, _ := strings.Cut(rawQuery[start:end], "=")
		if isTokenParamKey(key) && !fn(value, start, end) {
			return
		}
		start = end + 1
	}
}

func isTokenParamKey(key string) bool {
	if key == tokenParam {
		return true
	}
	if !strings.ContainsAny(key, "%+") {
		return false
	}
	k, err := url.QueryUnescape(key)
	return err == nil && k == tokenParam
}

// withoutTokenParams returns rawQuery without its access_token parameters.
func withoutTokenParams(rawQuery string) string {
	return tokenParamsWithout(rawQuery, func(string) bool { return true })
}

// tokenParamsWithout returns rawQuery without the access_token parameters
// whose raw values drop picks.
func tokenParamsWithout(rawQuery string, drop func(raw string) bool) string {
	var b strings.Builder
	next := 0 // the start of the part not yet copied
	eachTokenParam(rawQuery, func(raw string, start, end int) bool {
		if !drop(raw) {
			return true
		}
		b.WriteString(rawQuery[next:start])
		next = min(end+1, len(rawQuery))
		return true
	})
	if next == 0 {
		return rawQuery
	}
	b.WriteString(rawQuery[next:])
	return strings.TrimSuffix(b.String(), "&")
}
