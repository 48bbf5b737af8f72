package dingtoken

import (
	"crypto/sha256"
	"time"
)

// maxDropped bounds how many dropped tokens a key remembers.
const maxDropped = 16

// droppedTokens is what a key remembers of the tokens it dropped: a digest of
// each, never the token itself, until the token would have expired. It is
// never modified once published; a drop publishes a new one.
type droppedTokens []droppedToken

type droppedToken struct {
	digest [sha256.Size]byte
	expiry time.Time
}

// issuedToken reports whether value is a token m issued for f's key: the
// current one, or one it dropped within that token's lifetime. A Transport
// replaces such a token, found on a request, with the current one; any other
// token on a request belongs to someone else.
func (m *Manager) issuedToken(f Fetcher, value string) bool {
	sl, id := slotOf(f)
	if f == nil || value == "" || sl == &nilSlot {
		return false
	}
	ks := m.stateIn(f, sl, id)
	if e := ks.current.Load(); e != nil && e.token.Value == value {
		return true
	}
	d := ks.dropped.Load()
	if d == nil {
		return false
	}
	digest, now := sha256.Sum256([]byte(value)), time.Now()
	for _, t := range *d {
		if t.digest == digest && now.Before(t.expiry) {
			return true
		}
	}
	return false
}

// recordDropped remembers that ks dropped t, forgetting tokens that have
// expired since, and the oldest beyond maxDropped.
func (ks *keyState) recordDropped(t Token) {
	now := time.Now()
	if !now.Before(t.Expiry) {
		return
	}
	rec := droppedToken{digest: sha256.Sum256([]byte(t.Value)), expiry: t.Expiry}
	pushBounded(&ks.dropped, rec, maxDropped, func(d droppedToken) bool {
		return now.Before(d.expiry) && d.digest != rec.digest
	})
}
