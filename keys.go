package dingtoken

import "strings"

// keyEscaper escapes the two bytes that could make a composite cache key
// ambiguous: ':' separates the parts, and '%' starts an escape. Percent
// encoding of just these two is injective and leaves ordinary IDs (ding…,
// suite…, corp IDs) exactly as they are, so keys stay readable.
var keyEscaper = strings.NewReplacer("%", "%25", ":", "%3A")

// compositeKey joins kind and the escaped parts with ':'. Distinct parts
// always give distinct keys: {"s:a", "x"} is "corp:s%3Aa:x" and {"s", "a:x"}
// is "corp:s:a%3Ax".
func compositeKey(kind string, parts ...string) string {
	var b strings.Builder
	b.WriteString(kind)
	for _, p := range parts {
		b.WriteByte(':')
		keyEscaper.WriteString(&b, p)
	}
	return b.String()
}
