package dingtoken

import "strings"

// compositeKey joins kind and parts with ':', escaping in each part the two
// bytes that could make the key ambiguous: ':' (the separator) as "%3A" and
// '%' (the escape) as "%25". Percent-encoding just these is injective and
// leaves ordinary IDs (ding…, suite…, corp IDs) as they are, so keys stay
// readable: {"s:a", "x"} is "corp:s%3Aa:x" and {"s", "a:x"} is
// "corp:s:a%3Ax". It allocates once, like the concatenation it replaced.
func compositeKey(kind string, parts ...string) string {
	n := len(kind)
	for _, p := range parts {
		n += 1 + len(p) + 2*strings.Count(p, ":") + 2*strings.Count(p, "%")
	}
	var b strings.Builder
	b.Grow(n)
	b.WriteString(kind)
	for _, p := range parts {
		b.WriteByte(':')
		for i := 0; i < len(p); i++ {
			switch p[i] {
			case ':':
				b.WriteString("%3A")
			case '%':
				b.WriteString("%25")
			default:
				b.WriteByte(p[i])
			}
		}
	}
	return b.String()
}
