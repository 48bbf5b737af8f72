package dingtoken

import (
	"context"
	"time"
)

// Refreshes through a TokenLocker, whose refresh lock sits in the token's
// place in the Store.

// loadOrLock is loadAndLock on a TokenLocker. A token there that this
// process does not want (not better than its own) is named stale on a
// second call, which puts the lock in its place.
func (m *Manager) loadOrLock(ctx context.Context, ks *keyState, c *codec, tl TokenLocker) (Token, error, lockResult) {
	stale := m.unwanted(ks, c)
	for attempt := 0; ; attempt++ {
		sctx, cancel := m.storeContext(ctx)
		raw, unlock, locked, err := tl.LoadOrLock(sctx, ks.key, stale, lockTTL)
		cancel()
		if err != nil {
			m.storeError("lock", ks.key, err)
			if !locked {
				return Token{}, err, lockResult{err: err}
			}
			// The lock may be ours: act as its holder, and release it.
			return Token{}, ErrNotFound, lockResult{held: true, unlock: unlock, inPlace: true}
		}
		m.store.succeeded()
		if locked {
			return Token{}, ErrNotFound, lockResult{held: true, unlock: unlock, inPlace: true}
		}
		if raw.Value == "" {
			return Token{}, ErrNotFound, lockResult{} // another holder's
		}
		t, err := m.adopt(ks, c, raw)
		if err == nil {
			return t, nil, lockResult{}
		}
		if c.keepOut {
			return Token{}, err, lockResult{err: errNoLockInPlace}
		}
		if attempt > 0 {
			return Token{}, err, lockResult{} // changing under us: another process is at work
		}
		stale = raw.Value
	}
}

// unwanted returns the Store value that a refresh of ks replaces rather
// than takes: its current token, due for refresh, or the token DingTalk
// rejected last, each as this refresh would have saved it. Sealing is
// deterministic, so the value is the one in the Store.
func (m *Manager) unwanted(ks *keyState, c *codec) string {
	if e := ks.current.Load(); e != nil {
		return c.encode(e.token).Value
	}
	if r := ks.rejected.Load(); r != nil && !r.Expiry.IsZero() {
		return c.encode(*r).Value
	}
	return ""
}

// replaceInStore starts the refresh that replaces e, a rejected token in a
// TokenLocker, at once, and reports whether it did: its lock takes e's
// place in the Store, which a Delete of e would only race and slow down.
// The caller that retries joins it.
func (m *Manager) replaceInStore(ctx context.Context, ks *keyState, f Fetcher, e *entry) bool {
	if _, ok := m.Store.(TokenLocker); !ok || !e.inStore {
		return false
	}
	if fl := ks.failure.Load(); fl != nil && time.Now().Before(fl.retryAt) {
		return false
	}
	_, started := m.join(ctx, ks, f, false)
	return started
}
