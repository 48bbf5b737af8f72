package dingtoken

import (
	"testing"

	"github.com/dingtoken/dingtoken/dingtalktest"
)

// jsapiVectors are signatures computed by DingTalk's own code, run as
// published: SHA-256 by the DdConfigSign class of docs/01-应用开发/03-Ogu5SlPY4t-客户端JSAPI/0003-jsapi-authentication.md
// (步骤四), SHA-1 by the SDK helper DingTalkJsApiSingnature over the URL the
// docs' decodeUrl gives. The first row is the SDK helper's own sample; the
// others use the docs' sample values (the jsapiTicket and timestamp of their
// examples, the corpId page URL of the ISV instructions) and URLs with an
// encoded query, a fragment and an upper-case scheme.
var jsapiVectors = []struct {
	name, ticket, nonce string
	timestamp           int64
	url                 string
	sha256, sha1        string
}{
	{"SDK sample", "zHoQdGJuH0ZDebwo7sLqLzHGUueLmkWCC4RycYgkuvDu3eoROgN5qhwnQLgfzwEXtuR9SDzh6BdhyVngzAjrxV", "abcdefgh", 1437027269927,
		"http://10.62.53.138:3000/jsapi",
		"f83d09ae579893dd206f49752d49c64ed5b1d495a2d769e9f63ba4d1909f90ed", "810e6657e9f411e6491b3e97dfaf7660e89eb874"},
	{"docs sample", "asjdgxxx", "xxx", 1736749852931,
		"https://example.com?corpid=$CORPID$",
		"acda66e61062713ad0b5c14e7003e5cad436c0299b833e544eec5af85cd2dd9e", "931317649714d261654de34e84b6514313830494"},
	{"encoded query and a fragment (iOS)", "dWk8xxxx", "nonce-1", 1736749852931,
		"https://example.com:8443/h5/index.html?corpId=ding9f50b15bxxxx16741&name=%E9%92%89%E9%92%89&q=a+b#/route?x=1",
		"6a912cd8944e1759d265b8dc4bc1cd97bc4257276c924f7705c6bf945159a9dc", "440e3e360202dec2b6b8b864f2566ec77e8c9172"},
	{"the same page unencoded (Android)", "dWk8xxxx", "nonce-1", 1736749852931,
		"https://example.com:8443/h5/index.html?corpId=ding9f50b15bxxxx16741&name=钉钉&q=a b",
		"6a912cd8944e1759d265b8dc4bc1cd97bc4257276c924f7705c6bf945159a9dc", "440e3e360202dec2b6b8b864f2566ec77e8c9172"},
	{"upper-case scheme, encoded path, empty query", "dWk8xxxx", "nonce-1", 1736749852931,
		"HTTPS://Example.com/%E9%A1%B5/?",
		"b0a763545106af672e8b8b2bf472a6090fb7be1f7c4c1e146685671398155f67", "624daa3be1d6d39f3d803ce1b40fad4781ed66b3"},
	// Bytes that are not UTF-8, which java.net.URLDecoder turns into U+FFFD
	// (Java 17 and 25 agree): a GBK-encoded query value (北京), then broken
	// and cut-short sequences of every length.
	{"GBK-encoded query", "dWk8xxxx", "nonce-1", 1736749852931,
		"https://example.com/h5/index.html?corpId=ding9f50b15bxxxx16741&city=%B1%B1%BE%A9",
		"a1f9d172cc523413aec25d48f5322a825851e665eab90819adfa7752e4642918", "a4336f0aad2c6c8cc6cd3dad4ad5965d3aefec66"},
	{"broken UTF-8 in the query", "dWk8xxxx", "nonce-1", 1736749852931,
		"https://example.com/h5?a=%E9%92&b=%ED%A0%80&c=%F0%9F%98x&d=%C0%AF%FF&e=%E9%92%89%E9%92",
		"b20a7e840b2419503a2cd376d956fe714e1fee8d11628a0b790a46f451d5f901", "bacb69c9c3d8bf979c7118613860214e4cff4673"},
	// URLs java.net.URL takes as they are, which Go's url.Parse refuses (a
	// '%' without two hex digits after it in the path, the fragment or the
	// userinfo), then an IPv6 host with a port and escaped '#' and '&' in
	// the query (DdConfigSign's decodeUrl, run on OpenJDK 25).
	{"a bare '%' in the path", "dWk8xxxx", "nonce-1", 1736749852931,
		"https://h.example/50%off/p?x=%E9%92%89",
		"35501bce0f5c0b6bc52cd316741d0719146ffe5d2ed1db99fba6da9b779a4646", "0922f798f3fa0738678dd470f36dd8aad794bf3a"},
	{"a bare '%' in a hash route", "dWk8xxxx", "nonce-1", 1736749852931,
		"https://h.example/p?x=%41#/search?q=100%",
		"94cfa3308ee7d4ba48211c22e2d4044c017b353c278ba62c331062e4c4508840", "e26ae66fef0d7b0433817531f849ff1ecd98235a"},
	{"userinfo with a bare '%', and a port", "dWk8xxxx", "nonce-1", 1736749852931,
		"https://user:p%zz@h.example:8443/p?x=%41",
		"16bc4ce6c3bb649d3339b66d2132fc533591498e922772333919a64168359bb9", "68dc6e66acc0f01e39b3e9236fad09bfed5ff171"},
	{"IPv6 host and port, an escaped '#' in the fragment", "dWk8xxxx", "nonce-1", 1736749852931,
		"https://[fe80::1]:8443/p?x=%E9%92%89#a%23b",
		"0131c41c73c3bda3e1be982ca350c4fe7155e3cafdf88f97464dc921f872d39a", "18d96d5849c311e8e97c6ae1b3b02cf74c7ce5a1"},
	{"escaped '#' and '&' in the query", "dWk8xxxx", "nonce-1", 1736749852931,
		"https://h.example/p?x=a%23b%26c#frag",
		"996760f92b68ef71501e97ed8afecbefa6b96fbeac4c744390e91ce10358fe14", "61b19f453742afd5833b54be7125e6c9f2c55105"},
}

func TestSignJSAPIMatchesDingTalksCode(t *testing.T) {
	for _, v := range jsapiVectors {
		t.Run(v.name, func(t *testing.T) {
			if got := SignJSAPI(v.ticket, v.nonce, v.timestamp, v.url); got != v.sha256 {
				t.Errorf("SignJSAPI = %s, want %s", got, v.sha256)
			}
			if got := SignJSAPISHA1(v.ticket, v.nonce, v.timestamp, v.url); got != v.sha1 {
				t.Errorf("SignJSAPISHA1 = %s, want %s", got, v.sha1)
			}
		})
	}
}

func TestJSAPISignedURL(t *testing.T) {
	tests := []struct{ in, want string }{
		{"https://a.example/p?x=1#frag", "https://a.example/p?x=1"},
		{"https://a.example/p#frag?x=1", "https://a.example/p"},
		{"https://a.example/p?q=a%2Bb+c", "https://a.example/p?q=a+b c"},
		{"https://a.example/%E9%A1%B5?x=%E9%A1%B5", "https://a.example/%E9%A1%B5?x=页"},
		{"https://a.example/p?bad=%zz", "https://a.example/p?bad=%zz"}, // does not decode: signed as it is
		{"Https://A.example:8080/P", "https://A.example:8080/P"},
		{"https://a.example", "https://a.example"},
	}
	for _, tt := range tests {
		if got := jsapiSignedURL(tt.in); got != tt.want {
			t.Errorf("jsapiSignedURL(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

// TestSimulatorAcceptsOurSignatures checks SignJSAPI against dingtalktest's
// verifier, written separately, over the same URLs.
func TestSimulatorAcceptsOurSignatures(t *testing.T) {
	srv := newSim(t)
	m := &Manager{}
	jt := &JSAPITicket{App: appCreds(srv), Manager: m, Endpoint: srv.URL}
	tok, err := m.Token(t.Context(), jt)
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range jsapiVectors {
		for name, sign := range map[string]func(string, string, int64, string) string{"SHA-256": SignJSAPI, "SHA-1": SignJSAPISHA1} {
			sig := sign(tok.Value, v.nonce, v.timestamp, v.url)
			if code := srv.CheckJSAPISignature(testClientID, sig, v.nonce, v.timestamp, v.url); code != 0 {
				t.Errorf("%s, %s: the simulator answered %d", v.name, name, code)
			}
			if code := srv.CheckJSAPISignature(testClientID, sig, v.nonce, v.timestamp+1, v.url); code != dingtalktest.JSAPISignatureInvalid {
				t.Errorf("%s, %s, another timestamp: the simulator answered %d, want 52013", v.name, name, code)
			}
		}
	}
}
