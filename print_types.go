package dingtoken

import (
	"fmt"
	"log/slog"
)

// The types below hold a secret, a ticket or tokens. Each prints and logs
// what its fields method picks, on pointer receivers like its other
// methods: the types hold state that a copy must not read.

func (c *AppCredentials) fields() []shown {
	return []shown{idField("ClientID", c.ClientID), secretField("ClientSecret", c.ClientSecret),
		optionalField("Endpoint", c.Endpoint)}
}

// String shows the client ID and endpoint; the secret is REDACTED.
func (c *AppCredentials) String() string { return describe(c).String() }

// GoString is used by %#v; it redacts the secret like String.
func (c *AppCredentials) GoString() string { return describe(c).GoString() }

// Format prints c as String does for every verb, %d included.
func (c *AppCredentials) Format(s fmt.State, verb rune) { describe(c).format(s, verb) }

// LogValue makes slog log what String shows.
func (c *AppCredentials) LogValue() slog.Value { return describe(c).LogValue() }

func (c *LegacyAppCredentials) fields() []shown {
	return []shown{idField("AppKey", c.AppKey), secretField("AppSecret", c.AppSecret),
		optionalField("Endpoint", c.Endpoint)}
}

// String shows the app key and endpoint; the secret is REDACTED.
func (c *LegacyAppCredentials) String() string { return describe(c).String() }

// GoString is used by %#v; it redacts the secret like String.
func (c *LegacyAppCredentials) GoString() string { return describe(c).GoString() }

// Format prints c as String does for every verb, %d included.
func (c *LegacyAppCredentials) Format(s fmt.State, verb rune) { describe(c).format(s, verb) }

// LogValue makes slog log what String shows.
func (c *LegacyAppCredentials) LogValue() slog.Value { return describe(c).LogValue() }

func (c *CorpCredentials) fields() []shown {
	return []shown{idField("SuiteKey", c.SuiteKey), secretField("SuiteSecret", c.SuiteSecret),
		idField("AuthCorpID", c.AuthCorpID), optionalField("Endpoint", c.Endpoint)}
}

// String shows the suite key, corp and endpoint; the secret is REDACTED.
func (c *CorpCredentials) String() string { return describe(c).String() }

// GoString is used by %#v; it redacts the secret like String.
func (c *CorpCredentials) GoString() string { return describe(c).GoString() }

// Format prints c as String does for every verb, %d included.
func (c *CorpCredentials) Format(s fmt.State, verb rune) { describe(c).format(s, verb) }

// LogValue makes slog log what String shows.
func (c *CorpCredentials) LogValue() slog.Value { return describe(c).LogValue() }

func (c *SuiteCredentials) fields() []shown {
	return []shown{idField("SuiteKey", c.SuiteKey), secretField("SuiteSecret", c.SuiteSecret),
		flagField("Legacy", c.Legacy), optionalField("Endpoint", c.Endpoint)}
}

// String shows the suite key and endpoint; the secret is REDACTED.
func (c *SuiteCredentials) String() string { return describe(c).String() }

// GoString is used by %#v; it redacts the secret like String.
func (c *SuiteCredentials) GoString() string { return describe(c).GoString() }

// Format prints c as String does for every verb, %d included.
func (c *SuiteCredentials) Format(s fmt.State, verb rune) { describe(c).format(s, verb) }

// LogValue makes slog log what String shows.
func (c *SuiteCredentials) LogValue() slog.Value { return describe(c).LogValue() }

func (c *SSOCredentials) fields() []shown {
	return []shown{idField("CorpID", c.CorpID), secretField("SSOSecret", c.SSOSecret),
		flagField("Legacy", c.Legacy), optionalField("Endpoint", c.Endpoint)}
}

// String shows the corp ID and endpoint; the secret is REDACTED.
func (c *SSOCredentials) String() string { return describe(c).String() }

// GoString is used by %#v; it redacts the secret like String.
func (c *SSOCredentials) GoString() string { return describe(c).GoString() }

// Format prints c as String does for every verb, %d included.
func (c *SSOCredentials) Format(s fmt.State, verb rune) { describe(c).format(s, verb) }

// LogValue makes slog log what String shows.
func (c *SSOCredentials) LogValue() slog.Value { return describe(c).LogValue() }

func (c *ClientCredentials) fields() []shown {
	return []shown{idField("ClientID", c.ClientID), secretField("ClientSecret", c.ClientSecret),
		idField("CorpID", c.CorpID), optionalField("Endpoint", c.Endpoint)}
}

// String shows the client ID, corp and endpoint; the secret is REDACTED.
func (c *ClientCredentials) String() string { return describe(c).String() }

// GoString is used by %#v; it redacts the secret like String.
func (c *ClientCredentials) GoString() string { return describe(c).GoString() }

// Format prints c as String does for every verb, %d included.
func (c *ClientCredentials) Format(s fmt.State, verb rune) { describe(c).format(s, verb) }

// LogValue makes slog log what String shows.
func (c *ClientCredentials) LogValue() slog.Value { return describe(c).LogValue() }

func (s *SuiteTickets) fields() []shown {
	return []shown{idField("SuiteKey", s.SuiteKey), secretField("SuiteSecret", s.SuiteSecret),
		secretField("Ticket", s.current().ticket)}
}

// String shows the suite key; the secret and the current ticket are REDACTED.
func (s *SuiteTickets) String() string { return describe(s).String() }

// GoString is used by %#v; it redacts like String.
func (s *SuiteTickets) GoString() string { return describe(s).GoString() }

// Format prints s as String does for every verb, %d included.
func (s *SuiteTickets) Format(st fmt.State, verb rune) { describe(s).format(st, verb) }

// LogValue makes slog log what String shows.
func (s *SuiteTickets) LogValue() slog.Value { return describe(s).LogValue() }

func (t *JSAPITicket) fields() []shown {
	return []shown{fetcherField("App", t.App), flagField("Legacy", t.Legacy), optionalField("Endpoint", t.Endpoint)}
}

// String shows App as App prints itself, and the endpoint; App's secrets are REDACTED.
func (t *JSAPITicket) String() string { return describe(t).String() }

// GoString is used by %#v; it redacts like String.
func (t *JSAPITicket) GoString() string { return describe(t).GoString() }

// Format prints t as String does for every verb, %d included.
func (t *JSAPITicket) Format(s fmt.State, verb rune) { describe(t).format(s, verb) }

// LogValue makes slog log what String shows.
func (t *JSAPITicket) LogValue() slog.Value { return describe(t).LogValue() }

func (s *MemoryStore) fields() []shown {
	s.mu.Lock()
	defer s.mu.Unlock()
	return []shown{countField("Tokens", len(s.tokens))}
}

// String shows how many tokens s holds, and none of them.
func (s *MemoryStore) String() string { return describe(s).String() }

// GoString is used by %#v; it shows what String shows.
func (s *MemoryStore) GoString() string { return describe(s).GoString() }

// Format prints s as String does for every verb, %d included.
func (s *MemoryStore) Format(st fmt.State, verb rune) { describe(s).format(st, verb) }

// LogValue makes slog log what String shows.
func (s *MemoryStore) LogValue() slog.Value { return describe(s).LogValue() }
