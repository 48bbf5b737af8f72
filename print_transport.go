package dingtoken

import (
	"fmt"
	"log/slog"
)

// A Transport holds no secret of its own, but its Fetcher does, and a
// Transport is what a program builds and may log as its configuration.
// slog's JSON handler asks only the value it is given for a LogValue and
// marshals the rest field by field, so without these methods it would log
// the Fetcher's secret as it is. A Transport shows its Fetcher as that
// Fetcher prints itself, and its Hosts.

func (t *Transport) fields() []shown {
	return []shown{fetcherField("Fetcher", t.Fetcher),
		{name: "Hosts", text: fmt.Sprintf("%q", t.Hosts), value: slog.AnyValue(t.Hosts), optional: t.Hosts == nil}}
}

// String shows the Fetcher as it prints itself, secrets REDACTED, and Hosts if set.
func (t *Transport) String() string { return describe(t).String() }

// GoString is used by %#v; it shows what String shows.
func (t *Transport) GoString() string { return describe(t).GoString() }

// Format prints t as String does for every verb, %d included.
func (t *Transport) Format(s fmt.State, verb rune) { describe(t).format(s, verb) }

// LogValue makes slog log what String shows.
func (t *Transport) LogValue() slog.Value { return describe(t).LogValue() }
