package dingtoken

import (
	"context"
	"errors"
	"log/slog"
	"time"
)

// obtain gets a token from the Store if it has a better one than L1, else
// from DingTalk, under the cluster lock when the Store has one. stored is
// the token as the Store holds it, for a later compare-and-delete.
func (m *Manager) obtain(ctx context.Context, ks *keyState, f Fetcher) (t Token, stored string, err error) {
	if m.Store == nil {
		t, err = m.fetch(ctx, ks, f)
		return t, "", err
	}
	if t, stored, ok := m.loadShared(ctx, ks); ok {
		return t, stored, nil
	}
	if locker, ok := m.Store.(Locker); ok {
		sctx, cancel := m.storeContext(ctx)
		unlock, locked, err := locker.TryLock(sctx, ks.key, lockTTL)
		cancel()
		switch {
		case err != nil:
			m.storeError("lock", ks.key, err)
		case locked:
			defer unlock()
			// Another process may have saved a token just before we locked.
			if t, stored, ok := m.loadShared(ctx, ks); ok {
				return t, stored, nil
			}
		default:
			if t, stored, ok := m.waitForShared(ctx, ks); ok {
				return t, stored, nil
			}
		}
	}
	if t, err = m.fetch(ctx, ks, f); err != nil {
		return Token{}, "", err
	}
	return t, m.saveShared(ctx, ks, t), nil
}

// loadShared returns the Store's token for ks if it is better than L1's,
// opened if it is sealed, and the value as stored.
func (m *Manager) loadShared(ctx context.Context, ks *keyState) (Token, string, bool) {
	sctx, cancel := m.storeContext(ctx)
	defer cancel()
	raw, err := m.Store.Load(sctx, ks.key)
	if err != nil {
		if !errors.Is(err, ErrNotFound) {
			m.storeError("load", ks.key, err)
		}
		return Token{}, "", false
	}
	t := raw
	if ks.sealer != nil {
		if t, err = ks.sealer.open(raw); err != nil {
			m.storeError("load", ks.key, err)
			return Token{}, "", false
		}
	}
	if !m.worthAdopting(ks, t) {
		return Token{}, "", false
	}
	m.stats.l2Hits.Add(1)
	return t, raw.Value, true
}

// saveShared puts t into the Store, sealed if ks seals, and returns the value
// as stored, or "" if the Store failed.
func (m *Manager) saveShared(ctx context.Context, ks *keyState, t Token) string {
	if ks.sealer != nil {
		t = ks.sealer.seal(t)
	}
	sctx, cancel := m.storeContext(ctx)
	defer cancel()
	if err := m.Store.Save(sctx, ks.key, t); err != nil {
		m.storeError("save", ks.key, err)
		return ""
	}
	return t.Value
}

// deleteShared removes e's token from the Store, unless the Store holds
// another value by now.
func (m *Manager) deleteShared(ctx context.Context, ks *keyState, e *entry) {
	if m.Store == nil || e.stored == "" {
		return
	}
	sctx, cancel := m.storeContext(ctx)
	defer cancel()
	if err := m.Store.Delete(sctx, ks.key, e.stored); err != nil {
		m.storeError("delete", ks.key, err)
	}
}

// worthAdopting reports whether a token from the Store can be handed out and
// outlives the one in L1. A token DingTalk rejected is never taken back.
func (m *Manager) worthAdopting(ks *keyState, t Token) bool {
	now := time.Now()
	if !now.Before(m.newEntry(t, now).expireAt) {
		return false
	}
	if r := ks.rejected.Load(); r != nil && *r == t.Value {
		return false
	}
	e := ks.current.Load()
	return e == nil || t.Expiry.After(e.token.Expiry)
}

// waitForShared polls the Store while another process holds the refresh
// lock, until its token appears or lockWait passes.
func (m *Manager) waitForShared(ctx context.Context, ks *keyState) (Token, string, bool) {
	m.stats.lockWaits.Add(1)
	deadline := time.NewTimer(lockWait)
	defer deadline.Stop()
	interval := lockPollInterval
	for {
		poll := time.NewTimer(interval)
		select {
		case <-ctx.Done():
			poll.Stop()
			return Token{}, "", false
		case <-deadline.C:
			poll.Stop()
			m.log(slog.LevelWarn, "dingtoken: the process holding the refresh lock saved no token in time; fetching", ks.key)
			return Token{}, "", false
		case <-poll.C:
		}
		if t, stored, ok := m.loadShared(ctx, ks); ok {
			return t, stored, true
		}
		interval = min(interval*2, 400*time.Millisecond)
	}
}

// sealerFor returns the sealer for f's tokens under key, or nil when they
// are stored as they are.
func (m *Manager) sealerFor(f Fetcher, key string) *sealer {
	sf, ok := f.(SealingFetcher)
	if m.StorePlaintext || !ok || sf.SealingSecret() == "" {
		return nil
	}
	s, err := newSealer(sf.SealingSecret(), key)
	if err != nil {
		return nil
	}
	return s
}

func (m *Manager) storeContext(ctx context.Context) (context.Context, context.CancelFunc) {
	d := m.StoreTimeout
	if d <= 0 {
		d = DefaultStoreTimeout
	}
	return context.WithTimeout(ctx, d)
}

func (m *Manager) storeError(op, key string, err error) {
	m.stats.storeErrors.Add(1)
	m.log(slog.LevelWarn, "dingtoken: store "+op+" failed; carrying on without it", key, "err", err)
}
