package dingtalktest

import "testing"

// TestJavaURLDecode: the simulator decodes a page URL's query as
// java.net.URLDecoder does in the docs' decodeUrl; the wants are what
// OpenJDK 17 and 25 print for the same input.
func TestJavaURLDecode(t *testing.T) {
	tests := []struct {
		in, want string
		ok       bool
	}{
		{"a=%E9%92%89+b", "a=钉 b", true},
		{"city=%B1%B1%BE%A9", "city=\uFFFD\uFFFD\uFFFD\uFFFD", true}, // GBK
		{"%E4%B8", "\uFFFD", true},                                   // cut short
		{"%E4%B8A", "\uFFFDA", true},
		{"%ED%A0%80", "\uFFFD", true}, // an encoded surrogate
		{"%C0%AF", "\uFFFD\uFFFD", true},
		{"%E4%B8%E4%B8%AD", "\uFFFD中", true},
		{"%F0%9F%98x", "\uFFFDx", true},
		{"%F4%90%80%80", "\uFFFD\uFFFD\uFFFD\uFFFD", true},
		{"%F0%9F%98%80", "😀", true},
		{"bad=%zz", "", false},
		{"cut=%E4%B", "", false},
	}
	for _, tt := range tests {
		got, ok := javaURLDecode(tt.in)
		if got != tt.want || ok != tt.ok {
			t.Errorf("javaURLDecode(%q) = %q, %v; want %q, %v", tt.in, got, ok, tt.want, tt.ok)
		}
	}
}
