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
	size := resp.ContentLength
	if size < 0 {
		size = chunkPeek
	}
	peek := make([]byte, size)
	var n int
	var err error
	if resp.ContentLength >= 0 {
		n, err = io.ReadFull(resp.Body, peek)
	} else {
		n, err = resp.Body.Read(peek)
	}
	if err != io.EOF {
		pb.err = err
	}
	pb.prefix = peek[:n]
	resp.Body = pb
	body := pb.prefix
	// Only a body that starts like gzip costs a look at the header.
	if hasGzipMagic(body) && isGzipEncoded(resp.Header) {
		if body, err = gunzip(body, maxInspect); err != nil {
			return false // corrupt, cut short, or too large to be a rejection
		}
	}
	return isRejection(resp.StatusCode, body)
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

// isLegacyRejectionCode reports whether a legacy errcode says the token is
// bad: 40014 (invalid), 42001 (expired), 40001 (invalid credential), and for
// suite tokens 42009 (expired) and 40082 (invalid), per
// docs/01-应用开发/02-4a8AMF6u2A-服务端API/0013-server-api-error-codes-1.md.
func isLegacyRejectionCode(code string) bool {
	switch code {
	case "40014", "42001", "40001", "42009", "40082":
		return true
	}
	return false
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
	b := trimBOM(body)
	i := skipSpace(b, 0)
	if i == len(b) || b[i] != '{' {
		return nil, false
	}
	i = skipSpace(b, i+1)
	if !bytes.HasPrefix(b[i:], []byte(`"errcode"`)) {
		return nil, false
	}
	i = skipSpace(b, i+len(`"errcode"`))
	if i == len(b) || b[i] != ':' {
		return nil, false
	}
	i = skipSpace(b, i+1)
	switch {
	case i == len(b):
		return nil, false
	case b[i] == '"':
		end := bytes.IndexByte(b[i+1:], '"')
		if end < 0 {
			return nil, false
		}
		code = b[i+1 : i+1+end]
		if bytes.IndexByte(code, '\\') >= 0 {
			return nil, false
		}
		return code, true
	default: // a number, or a value that is neither a number nor a string: no code
		end := i
		for end < len(b) && isNumberByte(b[end]) {
			end++
		}
		return b[i:end], true
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
