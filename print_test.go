package dingtoken

import (
	"bytes"
	"context"
	"encoding/hex"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"
)

// printSecret and printTicket are what no printed or logged form of a
// value may show; printedIDs are what each must show to be of use.
const (
	printSecret = "print-secret-5a1t3d"
	printTicket = "print-ticket-0ddba11"
)

// secretHolders returns one of each exported type that holds a secret or a
// ticket, with the identifying text that its printed forms must show.
func secretHolders(t *testing.T) []struct {
	name string
	v    any
	ids  []string
} {
	tickets := &SuiteTickets{SuiteKey: "print-suite", SuiteSecret: printSecret}
	if err := tickets.Put(context.Background(), printTicket, time.Time{}); err != nil {
		t.Fatal(err)
	}
	app := &AppCredentials{ClientID: "print-app", ClientSecret: printSecret, Endpoint: "https://print.example"}
	store := NewMemoryStore()
	expiry := time.Date(2031, 2, 3, 4, 5, 6, 0, time.UTC)
	if err := store.Save(context.Background(), "print-key", Token{Value: printTicket, Expiry: expiry}); err != nil {
		t.Fatal(err)
	}
	return []struct {
		name string
		v    any
		ids  []string
	}{
		{"AppCredentials", app, []string{"AppCredentials", "print-app", "https://print.example"}},
		{"LegacyAppCredentials", &LegacyAppCredentials{AppKey: "print-legacy", AppSecret: printSecret},
			[]string{"LegacyAppCredentials", "print-legacy"}},
		{"CorpCredentials", &CorpCredentials{SuiteKey: "print-suite", SuiteSecret: printSecret, AuthCorpID: "print-corp", SuiteTicket: tickets.Ticket},
			[]string{"CorpCredentials", "print-suite", "print-corp"}},
		{"SuiteCredentials", &SuiteCredentials{SuiteKey: "print-suite", SuiteSecret: printSecret, SuiteTicket: tickets.Ticket, Legacy: true},
			[]string{"SuiteCredentials", "print-suite"}},
		{"SSOCredentials", &SSOCredentials{CorpID: "print-sso-corp", SSOSecret: printSecret},
			[]string{"SSOCredentials", "print-sso-corp"}},
		{"ClientCredentials", &ClientCredentials{ClientID: "print-client", ClientSecret: printSecret, CorpID: "print-own-corp"},
			[]string{"ClientCredentials", "print-client", "print-own-corp"}},
		{"SuiteTickets", tickets, []string{"SuiteTickets", "print-suite"}},
		{"JSAPITicket", &JSAPITicket{App: app, Legacy: true}, []string{"JSAPITicket", "print-app"}},
		{"JSAPITicket of a FetcherFunc", &JSAPITicket{App: FetcherFunc("print-func-key", nil)}, []string{"JSAPITicket", "print-func-key"}},
		{"MemoryStore", store, []string{"MemoryStore"}},
		{"Token", Token{Value: printSecret, Expiry: expiry}, []string{"2031"}},
	}
}

// printedForms returns v as every fmt verb and both slog handlers show it,
// and whether the form is text that can show an identifying field.
func printedForms(v any) map[string]bool {
	forms := map[string]bool{}
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%20v"} {
		forms[fmt.Sprintf(verb, v)] = true
	}
	// Not %p: given a value rather than a pointer, fmt prints it raw
	// whatever its methods, as it does for every verb it finds wrong.
	for _, verb := range []string{"%x", "%X", "%d", "%t"} {
		forms[fmt.Sprintf(verb, v)] = false
	}
	if s, ok := v.(fmt.Stringer); ok {
		forms[s.String()] = true
	} else {
		forms["(not a fmt.Stringer)"] = true
	}
	if s, ok := v.(fmt.GoStringer); ok {
		forms[s.GoString()] = true
	} else {
		forms["(not a fmt.GoStringer)"] = true
	}
	var text, json bytes.Buffer
	slog.New(slog.NewTextHandler(&text, nil)).Info("printing", "v", v)
	slog.New(slog.NewJSONHandler(&json, nil)).Info("printing", "v", v)
	forms[text.String()] = true
	forms[json.String()] = true
	return forms
}

// TestSecretHoldersPrintWithoutSecrets: every type that holds a secret or
// a ticket shows, under every fmt verb, String, GoString and both slog
// handlers, its type and identifying fields, and never the secret or the
// ticket, as they are or hex-encoded.
func TestSecretHoldersPrintWithoutSecrets(t *testing.T) {
	hidden := []string{printSecret, printTicket,
		hex.EncodeToString([]byte(printSecret)), strings.ToUpper(hex.EncodeToString([]byte(printSecret))),
		hex.EncodeToString([]byte(printTicket)), strings.ToUpper(hex.EncodeToString([]byte(printTicket)))}
	for _, tt := range secretHolders(t) {
		t.Run(tt.name, func(t *testing.T) {
			for form, readable := range printedForms(tt.v) {
				assertNoSecret(t, tt.name+" printed", form, hidden...)
				if !readable {
					continue
				}
				for _, id := range tt.ids {
					if !strings.Contains(form, id) {
						t.Errorf("%s printed as %q, want %q in it", tt.name, form, id)
					}
				}
			}
		})
	}
}

// TestNilSecretHoldersPrint: a nil pointer of each type prints and logs
// without a panic, and so does a JSAPITicket whose App is a nil pointer of
// another package's Fetcher type.
func TestNilSecretHoldersPrint(t *testing.T) {
	for _, v := range []any{
		(*AppCredentials)(nil), (*LegacyAppCredentials)(nil), (*CorpCredentials)(nil), (*SuiteCredentials)(nil),
		(*SSOCredentials)(nil), (*ClientCredentials)(nil), (*SuiteTickets)(nil), (*JSAPITicket)(nil), (*MemoryStore)(nil),
	} {
		assertPrintsWithoutPanic(t, v)
		if got, want := fmt.Sprintf("%#v", v), fmt.Sprintf("(%T)(nil)", v); got != want {
			t.Errorf("%%#v of a nil %T = %q, want %q", v, got, want)
		}
	}
	ticket := &JSAPITicket{App: (*keyedFetcher)(nil)}
	assertPrintsWithoutPanic(t, ticket)
	if got, want := ticket.String(), "dingtoken.JSAPITicket{App: (*dingtoken.keyedFetcher)(nil)}"; got != want {
		t.Errorf("JSAPITicket with a nil App printed as %q, want %q", got, want)
	}
}

// assertPrintsWithoutPanic fails t if a printed form of v shows that a
// method of v panicked.
func assertPrintsWithoutPanic(t *testing.T, v any) {
	t.Helper()
	for form := range printedForms(v) {
		if strings.Contains(form, "PANIC") || strings.Contains(form, "panicked") {
			t.Errorf("%T printed as %q", v, form)
		}
	}
}
