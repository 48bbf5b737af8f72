package dingtoken

import (
	"net"
	"net/url"
	"slices"
	"strconv"
	"strings"
)

// redacted replaces secrets and tokens wherever the library prints text.
const redacted = "REDACTED"

// minSubstringSecret is the length from which a secret is replaced wherever
// it occurs. A shorter one is replaced only where it stands whole (a query
// value, a path segment, a word): a secret "h" must not turn "https://" into
// "REDACTEDttps://", and a short string inside a longer word is chance, not
// the secret.
const minSubstringSecret = 8

// secretParams are the parameters whose values are secrets, in lower case;
// redactParams matches them in any case and at the end of a longer name,
// so that appsecret covers the new API's appSecret, and access_token the
// legacy suite_access_token. Tickets are here too: a suite ticket and a
// suite secret get a token, and a jsapi ticket signs dd.config.
var secretParams = []string{
	"access_token", // every legacy API
	"appsecret",    // GET /gettoken, GET /sns/gettoken
	"corpsecret",   // GET /sso/gettoken
	"suite_secret", // POST /service/get_suite_token
	"suite_ticket",
	"accesssecret", // POST /service/get_corp_token
	"suiteticket",
	"suitesecret", // the new API's bodies, and SDKs printing them
	"ssosecret",
	"client_secret",
	"clientsecret",
	"jsapi_ticket", // the text a dd.config signature is made of
}

// redactString returns s with the values of secretParams replaced by
// REDACTED, and every secret too, in each form it takes in a URL or in
// quoted text: as it is, query-escaped ('+' or "%20" for a space),
// path-escaped, and Go-quoted (%q). Secrets shorter than
// minSubstringSecret are replaced only where they stand whole.
func redactString(s string, secrets ...string) string {
	return newRedactor(secrets).redact(s)
}

// redactor holds the forms of a set of secrets, longest first, so that a
// secret inside a longer one cannot leave part of the longer one behind.
type redactor struct{ forms []secretForm }

type secretForm struct {
	text  string
	whole bool // replace only where it stands whole
}

func newRedactor(secrets []string) *redactor {
	r := &redactor{}
	for _, secret := range secrets {
		if secret == "" {
			continue
		}
		whole := len(secret) < minSubstringSecret
		q, p, quoted := url.QueryEscape(secret), url.PathEscape(secret), strconv.Quote(secret)
		for _, text := range []string{
			secret,
			q, strings.ReplaceAll(q, "+", "%20"),
			p, strings.ReplaceAll(p, "%2F", "/"), // a path segment, or a whole path
			quoted[1 : len(quoted)-1],
		} {
			if !slices.ContainsFunc(r.forms, func(f secretForm) bool { return f.text == text }) {
				r.forms = append(r.forms, secretForm{text, whole})
			}
		}
	}
	slices.SortStableFunc(r.forms, func(a, b secretForm) int { return len(b.text) - len(a.text) })
	return r
}

func (r *redactor) redact(s string) string {
	s = redactParams(s)
	for _, f := range r.forms {
		if f.whole {
			s = replaceWhole(s, f.text)
		} else {
			s = strings.ReplaceAll(s, f.text, redacted)
		}
	}
	return s
}

// redactParams replaces the values of secretParams wherever s holds
// "name=value", or "name": "value" as JSON writes it (also quoted inside an
// error), or name: value, the name in any case and even at the end of a
// longer one: hiding too much costs nothing here.
func redactParams(s string) string {
	for _, name := range secretParams {
		for from := 0; ; {
			i := indexFoldASCII(s[from:], name)
			if i < 0 {
				break
			}
			i += from
			from = i + len(name)
			start, colon := valueStart(s, from)
			if start < 0 {
				continue
			}
			end := start
			for end < len(s) && !endsValue(s[end]) && !(colon && strings.IndexByte(",]})", s[end]) >= 0) {
				end++
			}
			from = start
			if end == start || s[start:end] == redacted {
				continue
			}
			s = s[:start] + redacted + s[end:]
			from = start + len(redacted)
		}
	}
	return s
}

// valueStart returns where the value of a name that ends at i starts, or
// -1 if none follows: right after "=", or after ":" (colon) with a quote
// on either side, maybe escaped (a JSON body quoted in an error), and
// spaces around it.
func valueStart(s string, i int) (start int, colon bool) {
	if i < len(s) && s[i] == '=' {
		return i + 1, false
	}
	i = skipSpaces(s, skipQuote(s, i))
	if i >= len(s) || s[i] != ':' {
		return -1, false
	}
	return skipQuote(s, skipSpaces(s, i+1)), true
}

// skipQuote returns i past one quote at i, escaped or not.
func skipQuote(s string, i int) int {
	if strings.HasPrefix(s[i:], `\"`) {
		return i + 2
	}
	if i < len(s) && (s[i] == '"' || s[i] == '\'') {
		return i + 1
	}
	return i
}

func skipSpaces(s string, i int) int {
	for i < len(s) && s[i] == ' ' {
		i++
	}
	return i
}

// endsValue reports whether c ends a query value in text: URL syntax that
// an escaped value cannot hold, quotes, space and control bytes.
func endsValue(c byte) bool {
	return c <= ' ' || c == 0x7f || strings.IndexByte("&#\"'\\<>", c) >= 0
}

// replaceWhole replaces each occurrence of old in s that no word byte
// touches on either side.
func replaceWhole(s, old string) string {
	var b strings.Builder
	last := 0
	for from := 0; ; {
		i := strings.Index(s[from:], old)
		if i < 0 {
			break
		}
		i += from
		end := i + len(old)
		if (i == 0 || !isWordByte(s[i-1])) && (end == len(s) || !isWordByte(s[end])) {
			b.WriteString(s[last:i])
			b.WriteString(redacted)
			last = end
			from = end
		} else {
			from = i + 1
		}
	}
	if last == 0 {
		return s
	}
	b.WriteString(s[last:])
	return b.String()
}

// isWordByte reports whether c can be part of a token, a secret or an
// escaped URL value: letters, digits, "-._~%+", and any byte of a non-ASCII
// character.
func isWordByte(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c >= 0x80 ||
		strings.IndexByte("-._~%+", c) >= 0
}

// indexFoldASCII is strings.Index for a lower-case ASCII sub, in any case.
func indexFoldASCII(s, sub string) int {
	for i := 0; i+len(sub) <= len(s); i++ {
		if strings.EqualFold(s[i:i+len(sub)], sub) {
			return i
		}
	}
	return -1
}

// redactError returns err with every secret removed from its text, from the
// text of everything it wraps and from the URL of any *url.Error in it,
// keeping the chain intact for errors.Is and errors.As: a *url.Error stays
// one, and an error that was a net.Error still is, timeout and all. An error
// that shows no secret anywhere is returned as it is.
//
// Errors from net/http and go-retryablehttp quote the request URL, and a
// legacy DingTalk URL carries the app secret or the access token in its
// query, escaped. A wrapper may hide what it wraps from its own text, so the
// whole chain is searched, not only the outer message.
func redactError(err error, secrets ...string) error {
	if err == nil {
		return nil
	}
	return newRedactor(secrets).redactError(err)
}

func (r *redactor) redactError(err error) error {
	if err == nil || !r.leaks(err) {
		return err
	}
	if ue, ok := err.(*url.Error); ok {
		return &url.Error{Op: ue.Op, URL: r.redact(ue.URL), Err: r.redactError(ue.Err)}
	}
	red := &redactedError{msg: r.redact(err.Error())}
	switch u := err.(type) {
	case interface{ Unwrap() error }:
		if inner := u.Unwrap(); inner != nil {
			red.wrapped = []error{r.redactError(inner)}
		}
	case interface{ Unwrap() []error }:
		for _, inner := range u.Unwrap() {
			red.wrapped = append(red.wrapped, r.redactError(inner))
		}
	}
	if ne, ok := err.(net.Error); ok {
		return &redactedNetError{redactedError: red, timeout: ne.Timeout(), temporary: ne.Temporary()}
	}
	return red
}

// leaks reports whether err or anything it wraps shows a secret.
func (r *redactor) leaks(err error) bool {
	if msg := err.Error(); r.redact(msg) != msg {
		return true
	}
	switch u := err.(type) {
	case *url.Error:
		return r.redact(u.URL) != u.URL || u.Err != nil && r.leaks(u.Err)
	case interface{ Unwrap() error }:
		inner := u.Unwrap()
		return inner != nil && r.leaks(inner)
	case interface{ Unwrap() []error }:
		return slices.ContainsFunc(u.Unwrap(), func(e error) bool { return e != nil && r.leaks(e) })
	}
	return false
}

// redactedError stands in for an error whose text held a secret.
type redactedError struct {
	msg     string
	wrapped []error // the original's wrapped errors, redacted in turn
}

func (e *redactedError) Error() string   { return e.msg }
func (e *redactedError) Unwrap() []error { return e.wrapped }

// redactedNetError stands in for a net.Error whose text held a secret, so
// that errors.As(err, &netErr) and Timeout still answer as the original did.
type redactedNetError struct {
	*redactedError
	timeout, temporary bool
}

func (e *redactedNetError) Timeout() bool   { return e.timeout }
func (e *redactedNetError) Temporary() bool { return e.temporary }
