package dingtoken

import (
	"errors"
	"strings"
	"unicode/utf8"
)

// errJSAPIQuery says a page URL's query does not decode: a '%' without two
// hex digits after it. java.net.URLDecoder throws there, so the docs' code
// signs nothing; SignJSAPI signs the query as it is.
var errJSAPIQuery = errors.New("dingtoken: undecodable query")

// decodeQueryLikeJava decodes a page URL's query as the docs' decodeUrl does
// with java.net.URLDecoder.decode(query, "utf-8")
// (docs/01-应用开发/03-Ogu5SlPY4t-客户端JSAPI/0003-jsapi-authentication.md, 步骤四):
// '+' is a space, and each run of %XX escapes is turned into bytes and
// those bytes into text as Java's UTF-8 decoder does, each malformed
// sequence becoming one U+FFFD. url.QueryUnescape keeps such bytes as they
// are, so a query with GBK-encoded values (%B1%B1 for 北) or a cut-short
// escape of a character was signed differently from DingTalk.
func decodeQueryLikeJava(q string) (string, error) {
	if strings.IndexByte(q, '%') < 0 && strings.IndexByte(q, '+') < 0 {
		return q, nil
	}
	var b strings.Builder
	b.Grow(len(q))
	var run []byte
	for i := 0; i < len(q); {
		switch q[i] {
		case '+':
			b.WriteByte(' ')
			i++
		case '%':
			run = run[:0]
			for i < len(q) && q[i] == '%' {
				if i+2 >= len(q) {
					return "", errJSAPIQuery // "Incomplete trailing escape (%) pattern"
				}
				hi, lo := unhexDigit(q[i+1]), unhexDigit(q[i+2])
				if hi < 0 || lo < 0 {
					return "", errJSAPIQuery // "Illegal hex characters in escape (%) pattern"
				}
				run = append(run, byte(hi<<4|lo))
				i += 3
			}
			appendJavaUTF8(&b, run)
		default:
			b.WriteByte(q[i])
			i++
		}
	}
	return b.String(), nil
}

func unhexDigit(c byte) int {
	switch {
	case '0' <= c && c <= '9':
		return int(c - '0')
	case 'a' <= c && c <= 'f':
		return int(c - 'a' + 10)
	case 'A' <= c && c <= 'F':
		return int(c - 'A' + 10)
	}
	return -1
}

// appendJavaUTF8 appends src decoded as UTF-8 the way Java's String(bytes,
// UTF_8) does (String.decodeUTF8_UTF16 in OpenJDK 17 and 25): a malformed
// sequence becomes one U+FFFD and decoding goes on after as many bytes as
// Java counts for it, which is not always what utf8.DecodeRune counts (an
// encoded surrogate, ED A0 80, is one U+FFFD in Java and three in Go).
func appendJavaUTF8(b *strings.Builder, src []byte) {
	isCont := func(c byte) bool { return c&0xc0 == 0x80 }
	sl := len(src)
	for sp := 0; sp < sl; {
		b1 := src[sp]
		sp++
		switch {
		case b1 < 0x80:
			b.WriteByte(b1)
		case b1 >= 0xc2 && b1 <= 0xdf: // two bytes
			if sp < sl && isCont(src[sp]) {
				b.WriteRune(rune(b1&0x1f)<<6 | rune(src[sp]&0x3f))
				sp++
				continue
			}
			b.WriteRune(utf8.RuneError) // the next byte, if any, is read anew
		case b1&0xf0 == 0xe0: // three bytes
			if sp+1 < sl {
				b2, b3 := src[sp], src[sp+1]
				if b1 == 0xe0 && b2&0xe0 == 0x80 || !isCont(b2) || !isCont(b3) {
					b.WriteRune(utf8.RuneError)
					if !(b1 == 0xe0 && b2&0xe0 == 0x80) && isCont(b2) {
						sp++ // Java skips the lead and a good second byte
					}
					continue
				}
				sp += 2
				r := rune(b1&0x0f)<<12 | rune(b2&0x3f)<<6 | rune(b3&0x3f)
				if 0xd800 <= r && r <= 0xdfff {
					r = utf8.RuneError
				}
				b.WriteRune(r)
				continue
			}
			b.WriteRune(utf8.RuneError)
			if sp < sl && (b1 == 0xe0 && src[sp]&0xe0 == 0x80 || !isCont(src[sp])) {
				continue // the second byte is read anew
			}
			return // cut short: Java stops here
		case b1&0xf8 == 0xf0: // four bytes
			if sp+2 < sl {
				b2, b3, b4 := src[sp], src[sp+1], src[sp+2]
				r := rune(b1&0x07)<<18 | rune(b2&0x3f)<<12 | rune(b3&0x3f)<<6 | rune(b4&0x3f)
				if !isCont(b2) || !isCont(b3) || !isCont(b4) || r < 0x10000 || r > 0x10ffff {
					b.WriteRune(utf8.RuneError)
					switch {
					case b1 > 0xf4 || b1 == 0xf0 && (b2 < 0x90 || b2 > 0xbf) || b1 == 0xf4 && b2&0xf0 != 0x80 || !isCont(b2):
					case !isCont(b3):
						sp++
					default:
						sp += 2
					}
					continue
				}
				sp += 3
				b.WriteRune(r)
				continue
			}
			if b1 > 0xf4 || sp < sl && (b1 == 0xf0 && (src[sp] < 0x90 || src[sp] > 0xbf) || b1 == 0xf4 && src[sp]&0xf0 != 0x80 || !isCont(src[sp])) {
				b.WriteRune(utf8.RuneError)
				continue
			}
			sp++
			b.WriteRune(utf8.RuneError)
			if sp < sl && !isCont(src[sp]) {
				continue
			}
			return
		default: // a continuation byte, C0, C1, F8 to FF
			b.WriteRune(utf8.RuneError)
		}
	}
}
