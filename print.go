package dingtoken

import (
	"fmt"
	"io"
	"log/slog"
	"reflect"
	"strconv"
	"strings"
	"unicode"
)

// description is how a value that holds secrets prints and logs: its type,
// the fields that tell it apart, and its secrets as REDACTED ("" when
// unset, which is worth seeing). The String, GoString, Format and LogValue
// of every such type go through one, so that the value's own fields reach
// neither fmt nor slog (whose JSON handler would otherwise marshal them
// all, secrets included). encoding/json itself, called on such a value,
// still shows its fields: configuration may be marshalled on purpose.
type description struct {
	typ    string // the type's name, without the package
	isNil  bool
	fields []shown
}

// shown is one field of a description.
type shown struct {
	name     string     // the Go field's name
	text     string     // as String prints it
	value    slog.Value // as LogValue gives it
	optional bool       // left out when unset
}

// describe describes c, which may be nil, by its type's name and the
// fields it picks.
func describe[T any, P interface {
	*T
	fields() []shown
}](c P) description {
	d := description{typ: reflect.TypeFor[T]().Name(), isNil: c == nil}
	if c != nil {
		d.fields = c.fields()
	}
	return d
}

// idField shows a field that identifies the value, such as a client ID.
func idField(name, v string) shown {
	return shown{name: name, text: strconv.Quote(v), value: slog.StringValue(v)}
}

// optionalField shows a field, such as an Endpoint, only when it is set.
func optionalField(name, v string) shown {
	f := idField(name, v)
	f.optional = v == ""
	return f
}

// flagField shows a bool field, such as Legacy, only when it is true.
func flagField(name string, v bool) shown {
	return shown{name: name, text: strconv.FormatBool(v), value: slog.BoolValue(v), optional: !v}
}

// secretField shows whether a secret is set, as Token shows its value.
func secretField(name, secret string) shown {
	r := redactedValue(secret)
	return shown{name: name, text: r, value: slog.StringValue(r)}
}

// countField shows how many of something a value holds, such as tokens.
func countField(name string, n int) shown {
	return shown{name: name, text: strconv.Itoa(n), value: slog.IntValue(n)}
}

// fetcherField shows a Fetcher held by another value: by its description
// if it has one, otherwise by its type and key, for a Fetcher of another
// package may print its own secrets.
func fetcherField(name string, f Fetcher) shown {
	switch d := f.(type) {
	case nil:
		return shown{name: name, text: "nil", value: slog.StringValue("nil")}
	case interface{ fields() []shown }: // one of this package's, which print safely
		return shown{name: name, text: fmt.Sprint(d), value: slog.AnyValue(d)}
	}
	text := fmt.Sprintf("(%T)(nil)", f) // Key of a nil pointer would panic
	if v := reflect.ValueOf(f); v.Kind() != reflect.Pointer || !v.IsNil() {
		text = fmt.Sprintf("%T{Key: %q}", f, f.Key())
	}
	return shown{name: name, text: text, value: slog.StringValue(text)}
}

// String prints the type and fields: dingtoken.T{ID: "x", Secret: REDACTED}.
func (d description) String() string {
	if d.isNil {
		return "<nil>"
	}
	var b strings.Builder
	b.WriteString("dingtoken." + d.typ + "{")
	for i, f := range d.present() {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(f.name + ": " + f.text)
	}
	b.WriteString("}")
	return b.String()
}

// GoString is String, except that nil is spelled as %#v spells it.
func (d description) GoString() string {
	if d.isNil {
		return "(*dingtoken." + d.typ + ")(nil)"
	}
	return d.String()
}

// format serves every fmt verb, as formatRedacted does.
func (d description) format(s fmt.State, verb rune) {
	formatRedacted(s, verb, d.String(), d.GoString())
}

// formatRedacted prints a value's redacted text (goText for %#v) for any
// verb. A String method alone serves %v, %s, %q and %x; for the others
// (%d, %t...) fmt would print every field, secrets included.
func formatRedacted(s fmt.State, verb rune, text, goText string) {
	if verb == 'v' && s.Flag('#') {
		io.WriteString(s, goText)
		return
	}
	fmt.Fprintf(s, fmt.FormatString(s, verb), text)
}

// LogValue is a group of the type and the fields, under lower-case keys.
func (d description) LogValue() slog.Value {
	if d.isNil {
		return slog.StringValue("<nil>")
	}
	attrs := []slog.Attr{slog.String("type", "dingtoken."+d.typ)}
	for _, f := range d.present() {
		attrs = append(attrs, slog.Attr{Key: logKey(f.name), Value: f.value})
	}
	return slog.GroupValue(attrs...)
}

// present returns the fields to show: all but the unset optional ones.
func (d description) present() []shown {
	var fields []shown
	for _, f := range d.fields {
		if !f.optional {
			fields = append(fields, f)
		}
	}
	return fields
}

// logKey turns a Go field name into a log key: ClientID to clientID,
// SSOSecret to ssoSecret.
func logKey(name string) string {
	n := 0
	for n < len(name) && unicode.IsUpper(rune(name[n])) {
		n++
	}
	if n > 1 && n < len(name) {
		n-- // the last capital starts the next word
	}
	return strings.ToLower(name[:n]) + name[n:]
}
