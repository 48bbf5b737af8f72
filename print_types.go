package dingtoken

import (
	"fmt"
	"log/slog"
)

// The types below hold a secret, a ticket or tokens. Each prints and logs through
// its description, on pointer receivers like its other methods: the types
// hold state that a copy must not read.

func (c *AppCredentials) description() description {
	return describe("AppCredentials", c, func(c *AppCredentials) []shown {
		return []shown{idField("ClientID", c.ClientID), secretField("ClientSecret", c.ClientSecret),
			optionalField("Endpoint", c.Endpoint)}
	})
}

// String shows the client ID and endpoint; the secret is REDACTED.
func (c *AppCredentials) String() string { return c.description().String() }

// GoString is used by %#v; it redacts the secret like String.
func (c *AppCredentials) GoString() string { return c.description().GoString() }

// Format prints c as String does for every verb, %d included.
func (c *AppCredentials) Format(s fmt.State, verb rune) { c.description().format(s, verb) }

// LogValue makes slog log what String shows.
func (c *AppCredentials) LogValue() slog.Value { return c.description().LogValue() }

func (c *LegacyAppCredentials) description() description {
	return describe("LegacyAppCredentials", c, func(c *LegacyAppCredentials) []shown {
		return []shown{idField("AppKey", c.AppKey), secretField("AppSecret", c.AppSecret),
			optionalField("Endpoint", c.Endpoint)}
	})
}

// String shows the app key and endpoint; the secret is REDACTED.
func (c *LegacyAppCredentials) String() string { return c.description().String() }

// GoString is used by %#v; it redacts the secret like String.
func (c *LegacyAppCredentials) GoString() string { return c.description().GoString() }

// Format prints c as String does for every verb, %d included.
func (c *LegacyAppCredentials) Format(s fmt.State, verb rune) { c.description().format(s, verb) }

// LogValue makes slog log what String shows.
func (c *LegacyAppCredentials) LogValue() slog.Value { return c.description().LogValue() }

func (c *CorpCredentials) description() description {
	return describe("CorpCredentials", c, func(c *CorpCredentials) []shown {
		return []shown{idField("SuiteKey", c.SuiteKey), secretField("SuiteSecret", c.SuiteSecret),
			idField("AuthCorpID", c.AuthCorpID), optionalField("Endpoint", c.Endpoint)}
	})
}

// String shows the suite key, corp and endpoint; the secret is REDACTED.
func (c *CorpCredentials) String() string { return c.description().String() }

// GoString is used by %#v; it redacts the secret like String.
func (c *CorpCredentials) GoString() string { return c.description().GoString() }

// Format prints c as String does for every verb, %d included.
func (c *CorpCredentials) Format(s fmt.State, verb rune) { c.description().format(s, verb) }

// LogValue makes slog log what String shows.
func (c *CorpCredentials) LogValue() slog.Value { return c.description().LogValue() }

func (c *SuiteCredentials) description() description {
	return describe("SuiteCredentials", c, func(c *SuiteCredentials) []shown {
		return []shown{idField("SuiteKey", c.SuiteKey), secretField("SuiteSecret", c.SuiteSecret),
			flagField("Legacy", c.Legacy), optionalField("Endpoint", c.Endpoint)}
	})
}

// String shows the suite key and endpoint; the secret is REDACTED.
func (c *SuiteCredentials) String() string { return c.description().String() }

// GoString is used by %#v; it redacts the secret like String.
func (c *SuiteCredentials) GoString() string { return c.description().GoString() }

// Format prints c as String does for every verb, %d included.
func (c *SuiteCredentials) Format(s fmt.State, verb rune) { c.description().format(s, verb) }

// LogValue makes slog log what String shows.
func (c *SuiteCredentials) LogValue() slog.Value { return c.description().LogValue() }

func (c *SSOCredentials) description() description {
	return describe("SSOCredentials", c, func(c *SSOCredentials) []shown {
		return []shown{idField("CorpID", c.CorpID), secretField("SSOSecret", c.SSOSecret),
			flagField("Legacy", c.Legacy), optionalField("Endpoint", c.Endpoint)}
	})
}

// String shows the corp ID and endpoint; the secret is REDACTED.
func (c *SSOCredentials) String() string { return c.description().String() }

// GoString is used by %#v; it redacts the secret like String.
func (c *SSOCredentials) GoString() string { return c.description().GoString() }

// Format prints c as String does for every verb, %d included.
func (c *SSOCredentials) Format(s fmt.State, verb rune) { c.description().format(s, verb) }

// LogValue makes slog log what String shows.
func (c *SSOCredentials) LogValue() slog.Value { return c.description().LogValue() }

func (c *ClientCredentials) description() description {
	return describe("ClientCredentials", c, func(c *ClientCredentials) []shown {
		return []shown{idField("ClientID", c.ClientID), secretField("ClientSecret", c.ClientSecret),
			idField("CorpID", c.CorpID), optionalField("Endpoint", c.Endpoint)}
	})
}

// String shows the client ID, corp and endpoint; the secret is REDACTED.
func (c *ClientCredentials) String() string { return c.description().String() }

// GoString is used by %#v; it redacts the secret like String.
func (c *ClientCredentials) GoString() string { return c.description().GoString() }

// Format prints c as String does for every verb, %d included.
func (c *ClientCredentials) Format(s fmt.State, verb rune) { c.description().format(s, verb) }

// LogValue makes slog log what String shows.
func (c *ClientCredentials) LogValue() slog.Value { return c.description().LogValue() }

func (s *SuiteTickets) description() description {
	return describe("SuiteTickets", s, func(s *SuiteTickets) []shown {
		return []shown{idField("SuiteKey", s.SuiteKey), secretField("SuiteSecret", s.SuiteSecret),
			secretField("Ticket", s.current().ticket)}
	})
}

// String shows the suite key; the secret and the current ticket are REDACTED.
func (s *SuiteTickets) String() string { return s.description().String() }

// GoString is used by %#v; it redacts like String.
func (s *SuiteTickets) GoString() string { return s.description().GoString() }

// Format prints s as String does for every verb, %d included.
func (s *SuiteTickets) Format(st fmt.State, verb rune) { s.description().format(st, verb) }

// LogValue makes slog log what String shows.
func (s *SuiteTickets) LogValue() slog.Value { return s.description().LogValue() }

func (t *JSAPITicket) description() description {
	return describe("JSAPITicket", t, func(t *JSAPITicket) []shown {
		return []shown{fetcherField("App", t.App), flagField("Legacy", t.Legacy), optionalField("Endpoint", t.Endpoint)}
	})
}

// String shows App as App prints itself, and the endpoint; App's secrets are REDACTED.
func (t *JSAPITicket) String() string { return t.description().String() }

// GoString is used by %#v; it redacts like String.
func (t *JSAPITicket) GoString() string { return t.description().GoString() }

// Format prints t as String does for every verb, %d included.
func (t *JSAPITicket) Format(s fmt.State, verb rune) { t.description().format(s, verb) }

// LogValue makes slog log what String shows.
func (t *JSAPITicket) LogValue() slog.Value { return t.description().LogValue() }

func (s *MemoryStore) description() description {
	return describe("MemoryStore", s, func(s *MemoryStore) []shown {
		s.mu.Lock()
		defer s.mu.Unlock()
		return []shown{countField("Tokens", len(s.tokens))}
	})
}

// String shows how many tokens s holds, and none of them.
func (s *MemoryStore) String() string { return s.description().String() }

// GoString is used by %#v; it shows what String shows.
func (s *MemoryStore) GoString() string { return s.description().GoString() }

// Format prints s as String does for every verb, %d included.
func (s *MemoryStore) Format(st fmt.State, verb rune) { s.description().format(st, verb) }

// LogValue makes slog log what String shows.
func (s *MemoryStore) LogValue() slog.Value { return s.description().LogValue() }
