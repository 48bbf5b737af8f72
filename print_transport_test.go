package dingtoken

import (
	"encoding/hex"
	"fmt"
	"net/http"
	"strings"
	"testing"
)

// TestTransportPrintsWithoutSecrets: a Transport, the value a program builds
// and may log as its configuration, shows its Fetcher as that Fetcher prints
// itself, under every fmt verb, String, GoString and both slog handlers. The
// JSON handler marshals a value without a LogValue method field by field,
// so a Transport would otherwise log its credentials' secret as it is.
func TestTransportPrintsWithoutSecrets(t *testing.T) {
	hidden := []string{printSecret, printTicket,
		hex.EncodeToString([]byte(printSecret)), strings.ToUpper(hex.EncodeToString([]byte(printSecret)))}
	for _, tt := range secretHolders(t) {
		f, ok := tt.v.(Fetcher)
		if !ok {
			continue
		}
		for _, tr := range []*Transport{
			{Fetcher: f},
			{Fetcher: f, Manager: &Manager{}, Base: http.DefaultTransport, Hosts: []string{"print.example"}},
		} {
			t.Run(tt.name, func(t *testing.T) {
				for form, readable := range printedForms(tr) {
					assertNoSecret(t, "Transport of "+tt.name+" printed", form, hidden...)
					if !readable {
						continue
					}
					for _, id := range append([]string{"Transport"}, tt.ids...) {
						if !strings.Contains(form, id) {
							t.Errorf("Transport of %s printed as %q, want %q in it", tt.name, form, id)
						}
					}
				}
			})
		}
	}
	if got, want := fmt.Sprint((*Transport)(nil)), "<nil>"; got != want {
		t.Errorf("nil Transport prints as %q, want %q", got, want)
	}
}
