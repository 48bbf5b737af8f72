package dingtalktest

import (
	"strconv"
	"strings"
	"unicode/utf8"
)

// javaURLDecode decodes a query as java.net.URLDecoder.decode(q, "utf-8")
// does in the docs' decodeUrl
// (docs/01-应用开发/03-Ogu5SlPY4t-客户端JSAPI/0003-jsapi-authentication.md, 步骤四): '+'
// is a space; each run of %XX escapes is read as UTF-8 and every malformed
// sequence in it becomes one U+FFFD, skipping as many bytes as Java's
// decoder does (javaSkip). ok is false where Java throws: a '%' without two
// hex digits after it.
func javaURLDecode(q string) (s string, ok bool) {
	var out strings.Builder
	for len(q) > 0 {
		switch {
		case q[0] == '+':
			out.WriteByte(' ')
			q = q[1:]
		case q[0] == '%':
			var run []byte
			for len(q) > 0 && q[0] == '%' {
				if len(q) < 3 {
					return "", false
				}
				v, err := strconv.ParseUint(q[1:3], 16, 8)
				if err != nil {
					return "", false
				}
				run = append(run, byte(v))
				q = q[3:]
			}
			for len(run) > 0 {
				if r, n := utf8.DecodeRune(run); r != utf8.RuneError || n > 1 {
					out.WriteRune(r)
					run = run[n:]
					continue
				}
				out.WriteRune(utf8.RuneError)
				run = run[javaSkip(run):]
			}
		default:
			out.WriteByte(q[0])
			q = q[1:]
		}
	}
	return out.String(), true
}

// javaSkip returns how many bytes OpenJDK's UTF-8 decoder (String's, as in
// JDK 17 and 25) takes as one malformed sequence at the start of b, which
// Go's decoder has refused. Where Java gives up on a sequence cut short by
// the end of its run, the rest of the run goes with it.
func javaSkip(b []byte) int {
	cont := func(i int) bool { return i < len(b) && b[i]&0xc0 == 0x80 }
	has := func(i int) bool { return i < len(b) }
	lead := b[0]
	switch {
	case lead >= 0xe0 && lead <= 0xef:
		badSecond := lead == 0xe0 && has(1) && b[1] < 0xa0 || has(1) && !cont(1)
		switch {
		case len(b) >= 3 && badSecond:
			return 1
		case len(b) >= 3 && !cont(2):
			return 2
		case len(b) >= 3: // an encoded surrogate
			return 3
		case badSecond:
			return 1
		}
		return len(b)
	case lead >= 0xf0 && lead <= 0xf7:
		badSecond := lead > 0xf4 ||
			has(1) && (lead == 0xf0 && (b[1] < 0x90 || b[1] > 0xbf) || lead == 0xf4 && b[1] >= 0x90 || !cont(1))
		switch {
		case badSecond:
			return 1
		case len(b) >= 4 && !cont(2):
			return 2
		case len(b) >= 4:
			return 3
		case has(2) && !cont(2):
			return 2
		}
		return len(b)
	}
	return 1
}
