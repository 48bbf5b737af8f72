package dingtoken

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"strings"
)

// maxInspect is the largest response whose body is read to see whether
// DingTalk rejected the token; larger ones are passed on untouched. It bounds
// a gzip-encoded body both before and after decompression.
const maxInspect = 64 << 10

// chunkPeek is how much of a response of unknown length one read may take.
// DingTalk's rejections are a few hundred bytes and arrive in one piece.
const chunkPeek = 4 << 10

// shortPeek is how much of a legacy answer of known length is read first,
// into the peekedBody itself: enough for {"errcode":<code>, which opens
// DingTalk's legacy answers and rules out most of them, so that an
// ordinary answer costs no buffer and is not read ahead of the caller.
const shortPeek = 32

// inspectResponse reports whether resp, an answer from the new API or the
// legacy one, says DingTalk rejected the token. It reads at most a small JSON
// body, and only what has already arrived for one of unknown length, then
// puts the bytes back: the caller reads every byte, and Content-Length stays
// right. A gzip-encoded body (the caller asked for gzip itself, so net/http
// left it compressed) is judged by a decompressed copy; the caller still
// reads the compressed bytes.
func inspectResponse(resp *http.Response, newAPI bool) (rejected bool) {
	if !mayBeRejection(resp, newAPI) {
		return false
	}
	pb := &peekedBody{rest: resp.Body}
	resp.Body = pb
	size := resp.ContentLength
	var n int
	var err error
	switch {
	case size < 0:
		peek := make([]byte, chunkPeek)
		n, err = pb.rest.Read(peek)
		pb.prefix = peek[:n]
	case size <= shortPeek:
		n, err = io.ReadFull(pb.rest, pb.short[:size])
		pb.prefix = pb.short[:n]
	case resp.StatusCode == http.StatusOK:
		// A legacy answer: its opening decides most of the time.
		n, err = io.ReadFull(pb.rest, pb.short[:])
		pb.prefix = pb.short[:n]
		if err == nil && clearedByOpening(pb.prefix) {
			return false
		}
		if err == nil {
			peek := make([]byte, size)
			copy(peek, pb.prefix)
			var more int
			more, err = io.ReadFull(pb.rest, peek[n:])
			if err == io.EOF {
				err = io.ErrUnexpectedEOF // bytes were read: as one ReadFull of the whole body says
			}
			n += more
			pb.prefix = peek[:n]
		}
	default:
		peek := make([]byte, size)
		n, err = io.ReadFull(pb.rest, peek)
		pb.prefix = peek[:n]
	}
	if err != io.EOF {
		pb.err = err
	}
	body := pb.prefix
	// Only a body that starts like gzip costs a look at the header.
	if hasGzipMagic(body) && isGzipEncoded(resp.Header) {
		if body, err = gunzip(body, maxInspect); err != nil {
			return false // corrupt, cut short, or too large to be a rejection
		}
	}
	return isRejection(resp.StatusCode, body)
}

// clearedByOpening reports whether opening, the first bytes of a legacy
// (HTTP 200) answer, rule out a rejection the way isRejection would on the
// whole body: it opens with a complete errcode (a number followed by another
// byte, or a closed string) that cannot mean a rejected token.
func clearedByOpening(opening []byte) bool {
	if hasGzipMagic(opening) {
		return false
	}
	code, end, ok := leadingErrcodeEnd(opening)
	return ok && end < len(opening) && !isLegacyCandidate(code)
}

// mayBeRejection filters out, without reading anything, the responses that
// cannot be a token rejection: legacy rejections are HTTP 200, the new API's
// 400 or 401, both small JSON.
func mayBeRejection(resp *http.Response, newAPI bool) bool {
	switch resp.StatusCode {
	case http.StatusOK:
		if newAPI {
			return false
		}
	case http.StatusBadRequest, http.StatusUnauthorized:
	default:
		return false
	}
	if resp.ContentLength > maxInspect || resp.Body == nil || resp.Body == http.NoBody {
		return false
	}
	ct := resp.Header["Content-Type"] // canonical already; Get would check it again
	return len(ct) == 0 || strings.Contains(ct[0], "json") || containsFoldASCII(ct[0], "json")
}

// isRejection reports whether a body says the access token is bad, by the
// rule of rejectedTokenCode. Throttling, "system busy" and permission errors
// are not.
//
// A cheap byte scan rules out most bodies before any JSON decoding; it only
// ever rules out bodies that the JSON verdict, parsedRejection, rules out
// too (FuzzRejectionScan checks that on every input).
func isRejection(status int, body []byte) bool {
	return mayHoldRejection(status, body) && parsedRejection(status, body)
}

// rejectedTokenCode is the rule by which DingTalk's error codes say the
// access token is bad, whoever parsed the answer: legacy errcodes arrive with
// HTTP 200 (or no status, from an SDK that dropped it), the new API's codes
// with 400 or 401.
func rejectedTokenCode(status int, code, subCode string) bool {
	legacy := status == http.StatusOK || status == 0
	switch {
	case isLegacyRejectionCode(code):
		return legacy
	case code == "88":
		return legacy && (subCode == "40014" || subCode == "42001")
	}
	switch code {
	case "InvalidAuthentication":
		return status == http.StatusBadRequest || status == http.StatusUnauthorized
	case "Unauthorized":
		return status == http.StatusUnauthorized
	}
	return false
}

// isLegacyRejectionCode reports whether a legacy errcode says the access
// token is bad: 40014 (invalid), 42001 (expired), 40001 (invalid credential).
func isLegacyRejectionCode(code string) bool {
	switch code {
	case "40014", "42001", "40001":
		return true
	}
	return false
}

// isSuiteTokenRejectionCode reports whether a legacy errcode says a suite
// access token is bad: 42009 (expired), 40082 (invalid), per
// docs/01-应用开发/02-4a8AMF6u2A-服务端API/0013-server-api-error-codes-1.md.
// Legacy APIs take that token as suite_access_token, which a Transport
// never sets, so only WithToken acts on these: a Transport that met them
// would drop its own good token for someone else's.
func isSuiteTokenRejectionCode(status int, code string) bool {
	return (status == http.StatusOK || status == 0) && (code == "42009" || code == "40082")
}

// mayHoldRejection is the byte scan. DingTalk's legacy answers open with
// their errcode, which then decides at once. Otherwise a rejection's JSON
// holds its code (a legacy rejection code, InvalidAuthentication,
// Unauthorized) in plain text, unless a \u escape spells part of it, so a body with
// neither cannot be one.
func mayHoldRejection(status int, body []byte) bool {
	switch status {
	case http.StatusOK:
		if code, ok := leadingErrcode(body); ok {
			return isLegacyCandidate(code)
		}
		return hasLegacyRejectionCode(body) || hasASCIIEscape(body)
	case http.StatusBadRequest:
		return bytes.Contains(body, []byte("InvalidAuthentication")) || hasASCIIEscape(body)
	case http.StatusUnauthorized:
		return bytes.Contains(body, []byte("InvalidAuthentication")) || bytes.Contains(body, []byte("Unauthorized")) ||
			hasASCIIEscape(body)
	}
	return false
}

// isLegacyCandidate reports whether an errcode may mean a rejected token:
// one that does, or 88, which does with the right sub_code.
func isLegacyCandidate(code []byte) bool {
	return string(code) == "88" || isLegacyRejectionCode(string(code))
}

// leadingErrcode returns the text of the errcode that a body opening with
// {"errcode": holds, as parsedRejection will read it: a number's literal, or
// a string's contents. ok is false for any other body, and for a string with
// an escape in it, which only decoding can read.
func leadingErrcode(body []byte) (code []byte, ok bool) {
	code, _, ok = leadingErrcodeEnd(body)
	return code, ok
}

// leadingErrcodeEnd is leadingErrcode, also returning the index in body of
// the first byte after a number's literal, or of a string's closing quote:
// a prefix of a body that holds that index holds the whole code.
func leadingErrcodeEnd(body []byte) (code []byte, end int, ok bool) {
	b := trimBOM(body)
	skipped := len(body) - len(b)
	i := skipSpace(b, 0)
	if i == len(b) || b[i] != '{' {
		return nil, 0, false
	}
	i = skipSpace(b, i+1)
	if !bytes.HasPrefix(b[i:], []byte(`"errcode"`)) {
		return nil, 0, false
	}
	i = skipSpace(b, i+len(`"errcode"`))
	if i == len(b) || b[i] != ':' {
		return nil, 0, false
	}
	i = skipSpace(b, i+1)
	switch {
	case i == len(b):
		return nil, 0, false
	case b[i] == '"':
		n := bytes.IndexByte(b[i+1:], '"')
		if n < 0 {
			return nil, 0, false
		}
		code = b[i+1 : i+1+n]
		if bytes.IndexByte(code, '\\') >= 0 {
			return nil, 0, false
		}
		return code, skipped + i + 1 + n, true
	default: // a number, or a value that is neither a number nor a string: no code
		j := i
		for j < len(b) && isNumberByte(b[j]) {
			j++
		}
		return b[i:j], skipped + j, true
	}
}

func isNumberByte(c byte) bool {
	return '0' <= c && c <= '9' || c == '-' || c == '+' || c == '.' || c == 'e' || c == 'E'
}

// skipSpace returns the index of the first byte from i on that is not JSON
// whitespace.
func skipSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\r' || b[i] == '\n') {
		i++
	}
	return i
}

// hasLegacyRejectionCode reports whether body holds one of the legacy
// rejection codes anywhere; they are five digits starting with 4. Errcode 88
// counts only with sub_code 40014 or 42001, so it needs no search of its own.
func hasLegacyRejectionCode(body []byte) bool {
	for i := 0; ; i++ {
		j := bytes.IndexByte(body[i:], '4')
		if j < 0 {
			return false
		}
		i += j
		if rest := body[i:]; len(rest) >= 5 && isLegacyRejectionCode(string(rest[:5])) {
			return true
		}
	}
}

// hasASCIIEscape reports whether body holds a JSON escape \u0030 to \u007F,
// which could spell a digit or letter of a code.
func hasASCIIEscape(body []byte) bool {
	for i := 0; ; i++ {
		j := bytes.IndexByte(body[i:], '\\')
		if j < 0 {
			return false
		}
		i += j
		if rest := body[i:]; len(rest) >= 5 && rest[1] == 'u' && rest[2] == '0' && rest[3] == '0' && rest[4] >= '3' && rest[4] <= '7' {
			return true
		}
	}
}

// parsedRejection is the verdict on a body decoded as JSON, after a UTF-8
// byte order mark if any: the body must be one JSON object, whose first
// "errcode" member (a number or a string) decides for a legacy HTTP 200
// answer, with its first "sub_code" for errcode 88, and whose first "code"
// member decides for a new-API 400 or 401. Member names are matched exactly.
func parsedRejection(status int, body []byte) bool {
	var errcode, subCode, code, other json.RawMessage
	dec := json.NewDecoder(bytes.NewReader(trimBOM(body)))
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return false
	}
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return false
		}
		value := &other // reused for the members that do not matter
		switch name, _ := t.(string); {
		case name == "errcode" && errcode == nil:
			value = &errcode
		case name == "sub_code" && subCode == nil:
			value = &subCode
		case name == "code" && code == nil:
			value = &code
		}
		if err := dec.Decode(value); err != nil {
			return false
		}
	}
	if t, err := dec.Token(); err != nil || t != json.Delim('}') {
		return false
	}
	if _, err := dec.Token(); err != io.EOF {
		return false // something after the object
	}
	if status == http.StatusOK {
		code = errcode
	}
	return rejectedTokenCode(status, jsonScalar(code), jsonScalar(subCode))
}

// trimBOM drops a UTF-8 byte order mark, which some gateways put before
// JSON and encoding/json does not accept.
func trimBOM(body []byte) []byte {
	return bytes.TrimPrefix(body, []byte("\xef\xbb\xbf"))
}

// containsFoldASCII reports whether s contains lower, which is made of
// lower-case ASCII letters, in any case. Media types are case-insensitive (RFC 9110, 8.3.1).
func containsFoldASCII(s, lower string) bool {
	for i := 0; i+len(lower) <= len(s); i++ {
		j := 0
		for j < len(lower) && s[i+j]|0x20 == lower[j] {
			j++
		}
		if j == len(lower) {
			return true
		}
	}
	return false
}

// peekedBody gives back the bytes inspectResponse read, then the rest.
type peekedBody struct {
	prefix []byte
	err    error // the error that ended the peek, returned after prefix
	rest   io.ReadCloser
	short  [shortPeek]byte // holds prefix when it is short: no buffer of its own
}

func (b *peekedBody) Read(p []byte) (int, error) {
	if len(b.prefix) > 0 {
		n := copy(p, b.prefix)
		b.prefix = b.prefix[n:]
		return n, nil
	}
	if b.err != nil {
		return 0, b.err
	}
	return b.rest.Read(p)
}

func (b *peekedBody) Close() error { return b.rest.Close() }
