package dingtoken

import (
	"testing"
)

// TestCompositeKeysAreUnambiguous: two different pairs of IDs never share a
// cache key, and ordinary IDs keep their readable key.
func TestCompositeKeysAreUnambiguous(t *testing.T) {
	tests := []struct {
		name string
		a, b Fetcher
	}{
		{"corp, ':' in the suite key or the corp ID",
			&CorpCredentials{SuiteKey: "s:a", AuthCorpID: "x"}, &CorpCredentials{SuiteKey: "s", AuthCorpID: "a:x"}},
		{"corp, an escape written out by hand",
			&CorpCredentials{SuiteKey: "s%3Aa", AuthCorpID: "x"}, &CorpCredentials{SuiteKey: "s:a", AuthCorpID: "x"}},
		{"client, ':' in the client ID or the corp ID",
			&ClientCredentials{ClientID: "c:a", CorpID: "x"}, &ClientCredentials{ClientID: "c", CorpID: "a:x"}},
		{"jsapi tickets of the two corps above",
			&JSAPITicket{App: &CorpCredentials{SuiteKey: "s:a", AuthCorpID: "x"}}, &JSAPITicket{App: &CorpCredentials{SuiteKey: "s", AuthCorpID: "a:x"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if a, b := tt.a.Key(), tt.b.Key(); a == b {
				t.Errorf("both fetchers have the key %q", a)
			}
		})
	}

	readable := map[string]string{
		(&CorpCredentials{SuiteKey: "suite-key", AuthCorpID: "ding-corp"}).Key(): "corp:suite-key:ding-corp",
		(&ClientCredentials{ClientID: "dingapp", CorpID: "ding9f50b15b"}).Key():  "client:dingapp:ding9f50b15b",
		(&SuiteCredentials{SuiteKey: "suiteabc"}).Key():                          "suite:suiteabc",
		(&SSOCredentials{CorpID: "ding1234"}).Key():                              "sso:ding1234",
		(&JSAPITicket{App: &AppCredentials{ClientID: "dingapp"}}).Key():          "jsapi:app:dingapp",
	}
	for got, want := range readable {
		if got != want {
			t.Errorf("key %q, want %q", got, want)
		}
	}
}

// TestCompositeKeyIsInjective tries every pair of parts up to three bytes
// from the bytes that matter (the separator, the escape, what escapes
// contain, and an ordinary letter): no two pairs share a key.
func TestCompositeKeyIsInjective(t *testing.T) {
	alphabet := []string{":", "%", "3", "A", "2", "5", "x"}
	parts, last := []string{""}, []string{""}
	for range 3 {
		var next []string
		for _, p := range last {
			for _, c := range alphabet {
				next = append(next, p+c)
			}
		}
		parts, last = append(parts, next...), next
	}
	seen := make(map[string][2]string, len(parts)*len(parts))
	for _, a := range parts {
		for _, b := range parts {
			k := compositeKey("corp", a, b)
			if prev, ok := seen[k]; ok {
				t.Fatalf("%q and %q both give %q", prev, [2]string{a, b}, k)
			}
			seen[k] = [2]string{a, b}
		}
	}
	if len(seen) < 100_000 {
		t.Fatalf("tried only %d pairs", len(seen))
	}
}

// TestCompositeKeyAllocatesOnce: a value-type fetcher builds its key on
// every cache hit, so the escaping must cost no more than the concatenation
// it replaced.
func TestCompositeKeyAllocatesOnce(t *testing.T) {
	for _, c := range []CorpCredentials{{SuiteKey: "suite-key", AuthCorpID: "ding-corp"}, {SuiteKey: "s:a%", AuthCorpID: "x:"}} {
		if got := testing.AllocsPerRun(100, func() { _ = c.Key() }); got != 1 {
			t.Errorf("Key() of %q, %q: %v allocations, want 1", c.SuiteKey, c.AuthCorpID, got)
		}
	}
}
