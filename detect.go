package dingtoken

import (
	"bytes"
	"io"
	"net/http"
	"strings"
)

// maxInspect is the largest response whose body is read to see whether
// DingTalk rejected the token; larger ones are passed on untouched.
const maxInspect = 64 << 10

// chunkPeek is how much of a response of unknown length one read may take.
// DingTalk's rejections are a few hundred bytes and arrive in one piece.
const chunkPeek = 4 << 10

// inspectResponse reports whether resp, an answer from the new API or the
// legacy one, says DingTalk rejected the token. It reads at most a small JSON
// body, and only what has already arrived for one of unknown length, then
// puts the bytes back: the caller reads every byte, and Content-Length stays
// right.
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
	return isRejection(resp.StatusCode, pb.prefix)
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
	return len(ct) == 0 || strings.Contains(ct[0], "json")
}

// isRejection reports whether a body says the access token is bad: legacy
// errcode 40014 (invalid), 42001 (expired), 40001 (invalid credential), or 88
// with one of those as sub_code; new API 400/401 InvalidAuthentication, or
// 401 Unauthorized. Throttling, "system busy" and permission errors are not.
// A cheap byte scan rules out most bodies before any JSON decoding.
func isRejection(status int, body []byte) bool {
	switch {
	case status == http.StatusOK:
		code := legacyErrcode(body)
		if string(code) != "40014" && string(code) != "42001" && string(code) != "40001" && string(code) != "88" {
			return false
		}
	case !bytes.Contains(body, []byte("InvalidAuthentication")) && !bytes.Contains(body, []byte("Unauthorized")):
		return false
	}
	e := parseAPIError(status, body)
	if e == nil {
		return false
	}
	switch e.Code {
	case "40014", "42001", "40001":
		return true
	case "88":
		return e.SubCode == "40014" || e.SubCode == "42001"
	case "InvalidAuthentication":
		return status == http.StatusBadRequest || status == http.StatusUnauthorized
	case "Unauthorized":
		return status == http.StatusUnauthorized
	}
	return false
}

// legacyErrcode finds the number after "errcode": without decoding JSON,
// or nil.
func legacyErrcode(body []byte) []byte {
	i := bytes.Index(body, []byte(`"errcode"`))
	if i < 0 {
		return nil
	}
	rest := bytes.TrimLeft(body[i+len(`"errcode"`):], " \t\r\n")
	if len(rest) == 0 || rest[0] != ':' {
		return nil
	}
	rest = bytes.TrimLeft(rest[1:], " \t\r\n")
	end := 0
	for end < len(rest) && (rest[end] == '-' || rest[end] >= '0' && rest[end] <= '9') {
		end++
	}
	return rest[:end]
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
