package dingtoken

import (
	"crypto/sha1"
	"crypto/sha256"
	"encoding/hex"
	"hash"
	"strconv"
	"strings"
)

// SignJSAPI returns the signature dd.config needs on an H5 page: the
// lower-case hex SHA-256 of
//
//	jsapi_ticket=<ticket>&noncestr=<nonceStr>&timestamp=<timestamp>&url=<page URL>
//
// exactly as DingTalk's JSAPI authentication docs compute it:
// docs/01-应用开发/03-Ogu5SlPY4t-客户端JSAPI/0003-jsapi-authentication.md (步骤四)
// and docs/01-应用开发/01-XOnnmGCTbn-开发指南/0031-develop-webapp-frontend.md.
// The page passes the same nonceStr and timestamp (the docs use Unix
// milliseconds) to dd.config.
//
// pageURL is the page's location.href as it is, not encoded by you. As in the
// docs' code, the fragment (# and after) is dropped, the scheme is
// lower-cased, and the query is URL-decoded once ('+' and %XX), because iOS
// reports the URL encoded and Android does not; the path is left as it is.
// Escaped bytes that are not UTF-8 (a GBK-encoded value, say) become U+FFFD,
// as in the docs' Java. A query that does not decode is signed as it is.
//
// SHA-256 is the default because DingTalk's current docs use it in every
// sample. DingTalk's older docs and SDK helper used SHA-1; see SignJSAPISHA1.
func SignJSAPI(ticket, nonceStr string, timestamp int64, pageURL string) string {
	return signJSAPI(sha256.New(), ticket, nonceStr, timestamp, pageURL)
}

// SignJSAPISHA1 is SignJSAPI with SHA-1, the digest of DingTalk's earlier
// docs and of its SDK's DingTalkJsApiSingnature helper, for pages set up
// against those. The page URL is treated as in SignJSAPI.
func SignJSAPISHA1(ticket, nonceStr string, timestamp int64, pageURL string) string {
	return signJSAPI(sha1.New(), ticket, nonceStr, timestamp, pageURL)
}

func signJSAPI(h hash.Hash, ticket, nonceStr string, timestamp int64, pageURL string) string {
	h.Write([]byte("jsapi_ticket=" + ticket + "&noncestr=" + nonceStr +
		"&timestamp=" + strconv.FormatInt(timestamp, 10) + "&url=" + jsapiSignedURL(pageURL)))
	return hex.EncodeToString(h.Sum(nil))
}

// jsapiSignedURL returns pageURL as the docs' decodeUrl rebuilds it from
// java.net.URL: scheme (lower case), ':', authority and path as given, and
// the query decoded as URLDecoder does it (decodeQueryLikeJava). The
// fragment is not part of it.
func jsapiSignedURL(pageURL string) string {
	u, _, _ := strings.Cut(pageURL, "#")
	if i := strings.IndexByte(u, ':'); i > 0 && isScheme(u[:i]) {
		u = strings.ToLower(u[:i]) + u[i:]
	}
	base, query, ok := strings.Cut(u, "?")
	if !ok {
		return base
	}
	if q, err := decodeQueryLikeJava(query); err == nil {
		query = q
	}
	return base + "?" + query
}

// isScheme reports whether s is a URL scheme (RFC 3986: a letter, then
// letters, digits, '+', '-', '.').
func isScheme(s string) bool {
	for i, r := range s {
		switch {
		case 'a' <= r && r <= 'z', 'A' <= r && r <= 'Z':
		case i > 0 && ('0' <= r && r <= '9' || r == '+' || r == '-' || r == '.'):
		default:
			return false
		}
	}
	return s != ""
}
