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
		var raw Token
		var lock *HeldLock
		err := guardStore(func() (err error) {
			raw, lock, err = tl.LoadOrLock(sctx, ks.key, stale, m.lockTTL())
			return err
		})
		cancel()
		held := lockResult{held: true, inPlace: true}
		if lock != nil {
			held.unlock, held.extend = lock.Unlock, lock.Extend
		}
		if err != nil {
			if lock == nil {
				m.storeError("lock", ks.key, err)
				return Token{}, err, lockResult{err: err}
			}
			// The lock may be ours: act as its holder, and release it.
			m.lockError(ks, err, held)
			return Token{}, ErrNotFound, held
		}
		m.store.succeeded()
		if lock != nil {
			return Token{}, ErrNotFound, held
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
		stale = raw
	}
}

// unwanted returns the Store value that a refresh of ks replaces rather
// than takes: its current token, due for refresh, or the token DingTalk
// rejected last, each as this refresh would have saved it. Sealing is
// deterministic, so the value is the one in the Store.
func (m *Manager) unwanted(ks *keyState, c *codec) Token {
	if e := ks.current.Load(); e != nil {
		return c.encode(e.token)
	}
	if r := ks.lastRejected(); r.Value != "" {
		return c.encode(r)
	}
	return Token{}
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

// fetchUnder fetches while holding lock, if any, and keeps the lock alive
// while the fetch runs.
func (m *Manager) fetchUnder(ctx context.Context, ks *keyState, f Fetcher, background bool, lock lockResult) (Token, error) {
	defer m.keepLock(ks, lock)()
	return m.fetch(ctx, ks, f, background)
}

// keepLock extends a lock every third of its TTL until the returned stop is
// called, so that a fetch slower than the TTL (DingTalk failing, and the
// fetch retried) keeps the other processes waiting for its token instead of
// each fetching on its own. A lock that cannot be extended is left to
// expire.
func (m *Manager) keepLock(ks *keyState, lock lockResult) (stop func()) {
	if !lock.held || lock.extend == nil {
		return func() {}
	}
	done := make(chan struct{})
	ttl := m.lockTTL()
	m.background(func() {
		tick := time.NewTicker(ttl / 3)
		defer tick.Stop()
		for {
			select {
			case <-done:
				return
			case <-tick.C:
			}
			ctx, cancel := m.storeContext(context.Background())
			err := guardStore(func() error { return lock.extend(ctx, ttl) })
			cancel()
			if err != nil {
				select {
				case <-done: // the fetch ended meanwhile: its save may have taken the lock's place
				default:
					m.storeError("lock", ks.key, err)
				}
				return
			}
		}
	})
	return func() { close(done) }
}
