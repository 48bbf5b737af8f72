package dingtoken

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync/atomic"
	"time"
)

const (
	// The cluster refresh lock outlives a normal fetch, and a TokenLocker's
	// holder extends it while a slow one runs. A process that finds it
	// taken waits while it is held, watching for the holder's token, and
	// fetches on its own once the lock is gone without one.
	lockTTL = 15 * time.Second
	// lockWaitSlack: a wait on a lock ends this long after the lock should
	// have gone (lockWaitLimit), for a Store that does not expire it.
	lockWaitSlack = 2 * time.Second
	// Waiters look again after a tenth of the time waited so far, so they
	// have the holder's token within about 1.1 times the holder's time.
	minLockPoll = 5 * time.Millisecond
	maxLockPoll = 100 * time.Millisecond
	// maxLoadFailures: a waiter that cannot read the Store this many times
	// in a row stops waiting and fetches.
	maxLoadFailures = 3
	// After a Store call times out, refreshes skip the Store for a while
	// instead of making callers wait for its timeout again: 1 s, doubling
	// with each timeout in a row up to 30 s. Saves, releases and deletes,
	// which nobody waits for, are still tried: a Store that answers late
	// may still take them, and a save or delete that succeeds ends the
	// skipping.
	minStoreSkip = time.Second
	maxStoreSkip = 30 * time.Second
)

// storeHealth remembers a Store that timed out.
type storeHealth struct {
	skipUntil atomic.Int64 // Unix ns
	skip      atomic.Int64 // the current skip, in ns; 0 after a success
}

// obtain gets a token from the Store if it has a better one than L1, else
// from DingTalk, under the cluster lock when the Store has one. stored says
// whether it went to the Store, for a later compare-and-delete.
//
// The Store is read and the lock taken at once. The holder of a Locker's
// lock reads again (another holder may have saved its token and let go
// between the two); a TokenLocker's lock, in the token's place, needs no
// second look. The holder fetches, and saves the token before it hands it
// out, so that processes waiting for it find it as soon as this one has it,
// and a process that exits right after (a job, a function) still shares it.
// Only a Locker's release is left to the background; a TokenLocker's lock
// ends with the save.
func (m *Manager) obtain(ctx context.Context, ks *keyState, f Fetcher, background bool) (t Token, stored bool, err error) {
	c := m.codecFor(ks, f)
	if c == nil {
		t, err = m.fetch(ctx, ks, f, background)
		return t, false, err
	}
	if !m.store.usable() {
		// Skipped after a timeout: no caller waits for the Store, but the
		// token is offered to it in the background, which ends the
		// skipping if the Store has come back.
		if t, err = m.fetch(ctx, ks, f, background); err != nil {
			return Token{}, false, err
		}
		value := c.encode(t)
		m.background(func() { m.saveShared(context.WithoutCancel(ctx), ks, value) })
		return t, value.Value != "", nil
	}
	m.awaitOwnRelease(ks)
	t, loadErr, lock := m.loadAndLock(ctx, ks, c, false)
	released := false
	defer func() {
		if !released { // a hook panicked, or called runtime.Goexit
			m.release(ks, lock)
		}
	}()
	letGo := func() {
		released = true
		m.release(ks, lock)
	}
	if loadErr == nil {
		letGo() // taken along with the load
		return t, true, nil
	}
	if lock.held {
		if !lock.inPlace {
			// A holder that finished just now saved its token before it
			// let go of a lock apart from it.
			if t, err := m.loadShared(ctx, ks, c); err == nil {
				letGo()
				return t, true, nil
			}
		}
	} else if lock.err == nil && m.storeLocks() {
		// Another process is fetching: wait for its token.
		if t, err := m.awaitHolder(ctx, ks, c); err == nil {
			return t, true, nil
		}
	}
	if t, err = m.fetchUnder(ctx, ks, f, background, lock); err != nil {
		letGo()
		return Token{}, false, err
	}
	value := c.encode(t)
	if m.saveShared(ctx, ks, value) && lock.inPlace {
		released = true // the token took the lock's place
	} else {
		letGo()
	}
	// Even a save that failed may have landed (a timeout): the token's
	// rejection removes it, if the Store has it.
	return t, value.Value != "", nil
}

// storeLocks reports whether the Store has a refresh lock.
func (m *Manager) storeLocks() bool {
	switch m.Store.(type) {
	case TokenLocker, Locker:
		return true
	}
	return false
}

// loadAndLock reads the Store and, if it has a lock, tries the lock at the
// same time: one round trip for both. While the Store is skipped after a
// timeout it is neither read nor locked, unless evenSkipped: a process
// that waits for another's token reads it, since only the Store can show
// it.
func (m *Manager) loadAndLock(ctx context.Context, ks *keyState, c *codec, evenSkipped bool) (Token, error, lockResult) {
	load := m.loadShared
	if evenSkipped {
		load = m.load
	}
	switch store := m.Store.(type) {
	case TokenLocker:
		// No lock while the Store is skipped, nor in place of a value this
		// fetcher cannot open.
		noLock := errNoLockInPlace
		if !m.store.usable() {
			noLock = errStoreSkipped
		} else if !c.keepOut {
			return m.loadOrLock(ctx, ks, c, store)
		}
		t, err := load(ctx, ks, c)
		return t, err, lockResult{err: noLock}
	case Locker:
		locked := make(chan lockResult, 1)
		go m.tryLockInto(ctx, ks, store, locked)
		loaded := false
		defer func() {
			if !loaded {
				// A hook panicked, or Load called runtime.Goexit: the refresh
				// fails, and the lock taken beside the load goes back rather
				// than hold the other processes off for its TTL.
				m.release(ks, <-locked)
			}
		}()
		t, err := load(ctx, ks, c)
		loaded = true
		return t, err, <-locked
	}
	t, err := load(ctx, ks, c)
	return t, err, lockResult{}
}

// lockResult is the outcome of a TryLock or a LoadOrLock.
type lockResult struct {
	held    bool
	inPlace bool // a TokenLocker's lock: no token is stored, and a save ends it
	unlock  func()
	extend  func(context.Context, time.Duration) error // nil if the lock cannot be extended
	err     error
}

// lockWaitLimit ends a wait on a lock that outlives its holder, for a
// Store that does not expire it: its TTL, or, for a TokenLocker's lock,
// which its holder extends while it fetches, the holder's longest fetch
// and save.
func (m *Manager) lockWaitLimit() time.Duration {
	limit := m.lockTTL()
	if _, ok := m.Store.(TokenLocker); ok {
		limit = max(limit, m.refreshTimeout()+m.storeTimeout())
	}
	return limit + lockWaitSlack
}

// lockTTL is how long a refresh lock lives unless its holder extends it.
func (m *Manager) lockTTL() time.Duration {
	if m.lockLife > 0 {
		return m.lockLife
	}
	return lockTTL
}

// tryLockInto sends tryLock's result to locked. It runs on a goroutine of
// its own, which the refresh's recovery does not reach: a StoreError hook
// that panics there, or a TryLock that calls runtime.Goexit, is a failed
// lock, not a dead process. (A TryLock that panics is a store error.)
func (m *Manager) tryLockInto(ctx context.Context, ks *keyState, locker Locker, locked chan<- lockResult) {
	returned := false
	answered := false // TryLock returned: a panic after it is the StoreError hook's
	defer func() {
		if !returned {
			err := fmt.Errorf("dingtoken: taking the store lock of %s: %s", ks.key, describePanic(recover()))
			// Logged without the StoreError hook, which may be what
			// panicked; counted unless storeError counted it before
			// calling that hook.
			if !answered {
				m.stats.storeErrors.Add(1)
			}
			m.log(slog.LevelError, "dingtoken: taking the store lock panicked; refreshing without the lock", ks.key, "err", err)
			locked <- lockResult{err: err}
		}
	}()
	lock := m.tryLock(ctx, ks, locker, &answered)
	returned = true
	locked <- lock
}

// tryLock tries locker's lock, and sets *answered once TryLock has
// returned.
func (m *Manager) tryLock(ctx context.Context, ks *keyState, locker Locker, answered *bool) lockResult {
	if !m.store.usable() {
		return lockResult{err: errStoreSkipped}
	}
	sctx, cancel := m.storeContext(ctx)
	defer cancel()
	var unlock func()
	var ok bool
	err := guardStore(func() (err error) {
		unlock, ok, err = locker.TryLock(sctx, ks.key, m.lockTTL())
		return err
	})
	*answered = true
	if err != nil {
		if !ok {
			m.storeError("lock", ks.key, err)
			return lockResult{err: err}
		}
		// The lock may be ours: act as its holder, and release it.
		m.lockError(ks, err, lockResult{held: true, unlock: unlock})
	}
	return lockResult{held: ok, unlock: unlock}
}

// lockError is storeError for a lock call that failed with the lock maybe
// taken: if the StoreError hook panics, the lock goes back before the
// panic goes on, rather than hold the other processes off for its TTL.
func (m *Manager) lockError(ks *keyState, err error, lock lockResult) {
	returned := false
	defer func() {
		if !returned {
			m.release(ks, lock)
		}
	}()
	m.storeError("lock", ks.key, err)
	returned = true
}

// release gives a lock back in the background; nobody waits for it but
// this process's next refresh of ks, which would take the lock for another
// process's until the release is done.
func (m *Manager) release(ks *keyState, lock lockResult) {
	if !lock.held || lock.unlock == nil {
		return
	}
	done := make(chan struct{})
	ks.releasing.Store(&done)
	m.background(func() {
		defer close(done)
		defer ks.releasing.CompareAndSwap(&done, nil)
		m.unlock(lock)
	})
}

// awaitOwnRelease waits, for at most a Store call's time, until this
// process's background release of ks's lock is done.
func (m *Manager) awaitOwnRelease(ks *keyState) {
	p := ks.releasing.Load()
	if p == nil {
		return
	}
	wait := time.NewTimer(m.storeTimeout())
	defer wait.Stop()
	select {
	case <-*p:
	case <-wait.C:
	}
}

func (m *Manager) unlock(lock lockResult) {
	if lock.held && lock.unlock != nil {
		lock.unlock()
	}
}

// awaitHolder watches the Store while another process holds the refresh
// lock, until its token appears, the lock is gone, the Store fails
// maxLoadFailures times in a row, or the lock outlives its TTL. While the
// Store is skipped after a timeout, it reads without trying the lock. It
// returns the token, or an error saying this process must fetch on its own.
//
// A lock gone without a token means its holder finished, or died, without
// saving one: the Store cannot take it, or the holder's fetch failed. Every
// waiter then fetches at once rather than each taking the lock in turn; the
// lock taken to find out is given back.
func (m *Manager) awaitHolder(ctx context.Context, ks *keyState, c *codec) (Token, error) {
	m.stats.lockWaits.Add(1)
	start := time.Now()
	outcome := "timeout"
	defer func() {
		if h := m.Hooks; h != nil && h.LockWaited != nil {
			h.LockWaited(LockWaitInfo{Key: ks.key, Duration: time.Since(start), Outcome: outcome})
		}
	}()
	poll := time.NewTimer(minLockPoll)
	defer poll.Stop()
	failures := 0
	for {
		<-poll.C
		t, err, lock := m.loadAndLock(ctx, ks, c, true)
		if err == nil {
			m.release(ks, lock) // taken if the holder let go meanwhile
			outcome = "token"
			return t, nil
		}
		if errors.Is(lock.err, errNoLockInPlace) {
			outcome = "store_error"
			return Token{}, lock.err
		}
		// A lock not tried while the Store is skipped is no failure: the
		// look went on, and only the Store can show the holder's token.
		// Nor is it a success: the skip follows a timeout, and a read in
		// between does not make the next lock call answer.
		if lockFailed(lock) || !errors.Is(err, ErrNotFound) {
			// One failure may be a slow moment; failures in a row mean the
			// holder's token, if any, cannot be read.
			if failures++; failures == maxLoadFailures {
				m.release(ks, lock)
				outcome = "store_error"
				if errors.Is(err, ErrNotFound) {
					err = lock.err
				}
				return Token{}, err
			}
		} else if !errors.Is(lock.err, errStoreSkipped) {
			failures = 0
		}
		if lock.held {
			// The holder of a Locker's lock may have saved its token just
			// before it let go.
			if !lock.inPlace {
				if t, err := m.load(ctx, ks, c); err == nil {
					m.release(ks, lock)
					outcome = "token"
					return t, nil
				}
			}
			m.release(ks, lock)
			outcome = "lock"
			return Token{}, errLockFreed
		}
		waited := time.Since(start)
		if waited > m.lockWaitLimit() {
			m.log(slog.LevelWarn, "dingtoken: the refresh lock outlived its TTL; fetching", ks.key)
			return Token{}, errLockFreed
		}
		poll.Reset(min(max(waited/10, minLockPoll), maxLockPoll))
	}
}

// lockFailed reports whether the Store failed to take or find a lock; a
// lock not tried while the Store is skipped did not fail.
func lockFailed(lock lockResult) bool {
	return lock.err != nil && !errors.Is(lock.err, errStoreSkipped)
}

var (
	errLockFreed     = errors.New("dingtoken: the refresh lock is free")
	errStoreSkipped  = errors.New("dingtoken: store skipped after a timeout")
	errNoLockInPlace = errors.New("dingtoken: no refresh lock in place of a value this refresh must leave alone")
)

// loadShared returns the Store's token for ks if it can be handed out and
// is better than L1's. ErrNotFound covers every
// value that is missing, unusable or not better. While the Store is
// skipped after a timeout, it is not called.
func (m *Manager) loadShared(ctx context.Context, ks *keyState, c *codec) (Token, error) {
	if !m.store.usable() {
		return Token{}, errStoreSkipped
	}
	return m.load(ctx, ks, c)
}

// load is loadShared even while the Store is skipped, for a process that
// waits for another's token, which only the Store can show it.
func (m *Manager) load(ctx context.Context, ks *keyState, c *codec) (Token, error) {
	sctx, cancel := m.storeContext(ctx)
	defer cancel()
	var raw Token
	err := guardStore(func() (err error) {
		raw, err = m.Store.Load(sctx, ks.key)
		return err
	})
	if err != nil && !errors.Is(err, ErrNotFound) {
		m.storeError("load", ks.key, err)
		return Token{}, err
	}
	m.store.succeeded()
	if err != nil {
		return Token{}, err
	}
	return m.adopt(ks, c, raw)
}

// adopt returns the token a value read from the Store holds, if it can be
// handed out and is better than L1's; ErrNotFound if not.
func (m *Manager) adopt(ks *keyState, c *codec, raw Token) (Token, error) {
	t, err := c.decode(raw)
	if errors.Is(err, errSealedUnreadable) {
		// Another process seals this key: leave its value alone rather than
		// overwrite it with one that it would not trust.
		c.keepOut = true
		m.log(slog.LevelDebug, "dingtoken: the stored token is sealed and this fetcher has no secret; fetching without the store", ks.key)
		return Token{}, ErrNotFound
	}
	if err != nil {
		m.storeError("load", ks.key, err)
		return Token{}, ErrNotFound
	}
	if !m.worthAdopting(ks, t) {
		return Token{}, ErrNotFound
	}
	m.stats.l2Hits.Add(1)
	if h := m.Hooks; h != nil && h.TokenServed != nil {
		h.TokenServed(TokenServedInfo{Key: ks.key, Source: FromStore})
	}
	return t, nil
}

// saveShared puts a value into the Store, and reports whether it did.
func (m *Manager) saveShared(ctx context.Context, ks *keyState, value Token) bool {
	if value.Value == "" {
		return false
	}
	sctx, cancel := m.storeContext(ctx)
	defer cancel()
	if err := guardStore(func() error { return m.Store.Save(sctx, ks.key, value) }); err != nil {
		m.storeError("save", ks.key, err)
		return false
	}
	m.store.succeeded()
	return true
}

// deleteShared removes e's token from the Store, in the background, unless
// the Store holds another value by now. The value to compare is e's token
// encoded again as f's refresh would save it: sealing is deterministic.
func (m *Manager) deleteShared(ctx context.Context, ks *keyState, f Fetcher, e *entry) {
	if !e.inStore {
		return
	}
	c := m.codecFor(ks, f)
	if c == nil {
		return
	}
	ctx = context.WithoutCancel(ctx)
	m.background(func() {
		stale := c.encode(e.token).Value
		if stale == "" {
			return
		}
		sctx, cancel := m.storeContext(ctx)
		defer cancel()
		if err := guardStore(func() error { return m.Store.Delete(sctx, ks.key, stale) }); err != nil {
			m.storeError("delete", ks.key, err)
			return
		}
		m.store.succeeded()
	})
}

// worthAdopting reports whether a token from the Store can be handed out and
// outlives the one in L1. A token DingTalk rejected is never taken back.
func (m *Manager) worthAdopting(ks *keyState, t Token) bool {
	if now := time.Now(); !now.Before(handOutUntil(t, now)) {
		return false
	}
	if ks.wasRejected(t.Value) {
		return false
	}
	e := ks.current.Load()
	return e == nil || t.Expiry.After(e.token.Expiry)
}

func (m *Manager) storeContext(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, m.storeTimeout())
}

func (m *Manager) storeTimeout() time.Duration {
	if m.StoreTimeout > 0 {
		return m.StoreTimeout
	}
	return DefaultStoreTimeout
}

// storeError counts and logs a failed Store call; after a timeout, the Store
// is skipped for a while.
func (m *Manager) storeError(op, key string, err error) {
	m.stats.storeErrors.Add(1)
	timeout := isTimeout(err)
	if timeout {
		if d := m.store.timedOut(); d > 0 {
			m.log(slog.LevelWarn, "dingtoken: store timed out; skipping it for a while", key, "op", op, "for", d)
		}
	}
	m.log(slog.LevelWarn, "dingtoken: store "+op+" failed; carrying on without it", key, "err", err)
	if h := m.Hooks; h != nil && h.StoreError != nil {
		h.StoreError(StoreErrorInfo{Key: key, Op: op, Timeout: timeout})
	}
}

// usable reports whether the Store may be called now.
func (h *storeHealth) usable() bool {
	until := h.skipUntil.Load()
	return until == 0 || time.Now().UnixNano() >= until
}

// timedOut starts a skip after a timeout, twice as long as the last one if
// there was no success since, and returns it; 0 if one is running already.
func (h *storeHealth) timedOut() time.Duration {
	now := time.Now().UnixNano()
	prev := h.skipUntil.Load()
	if now < prev {
		return 0
	}
	d := min(max(2*time.Duration(h.skip.Load()), minStoreSkip), maxStoreSkip)
	if !h.skipUntil.CompareAndSwap(prev, now+int64(d)) {
		return 0
	}
	h.skip.Store(int64(d))
	return d
}

// succeeded ends skipping, and the doubling of skips.
func (h *storeHealth) succeeded() {
	if h.skip.Load() != 0 {
		h.skip.Store(0)
		h.skipUntil.Store(0)
	}
}

// codec turns a key's tokens into Store values and back, for one refresh.
type codec struct {
	seal      *sealer // seals saved values; nil: saved as they are
	open      *sealer // opens sealed values; nil: they are misses
	plaintext bool    // plaintext values are tokens; else misses
	keepOut   bool    // the Store holds a value this fetcher cannot open: save nothing
}

// codecFor decides how f's refresh uses the Store, or returns nil when it
// must not use it: a token goes into the Store sealed, or in plaintext only
// if StorePlaintext says so. A fetcher without a secret to seal with keeps
// its tokens out of the Store.
func (m *Manager) codecFor(ks *keyState, f Fetcher) *codec {
	if m.Store == nil {
		return nil
	}
	var s *sealer
	if sf, ok := f.(SealingFetcher); ok && sf.SealingSecret() != "" {
		s, _ = newSealer(sf.SealingSecret(), ks.key)
	}
	switch {
	case m.StorePlaintext:
		return &codec{open: s, plaintext: true}
	case s != nil:
		return &codec{seal: s, open: s}
	}
	m.warnUnsealed(ks, f)
	return nil
}

// encode returns t as it goes into the Store, with an empty value if it
// cannot go.
func (c *codec) encode(t Token) Token {
	if c.keepOut {
		return Token{}
	}
	if c.seal != nil {
		return c.seal.seal(t)
	}
	if strings.HasPrefix(t.Value, sealedPrefix) || !isTokenText(t.Value) {
		return Token{} // would read as sealed, or as a value that does not decode
	}
	return t
}

// decode returns the token a stored value holds. A value that says it is
// sealed is opened or is a miss; it is never handed out as a token.
func (c *codec) decode(raw Token) (Token, error) {
	if strings.HasPrefix(raw.Value, sealedPrefix) {
		if c.open == nil {
			return Token{}, errSealedUnreadable
		}
		return c.open.open(raw)
	}
	if !c.plaintext {
		return Token{}, errPlaintextRefused
	}
	if !isTokenText(raw.Value) {
		// Another program's bug, say: a header would refuse it on every
		// request until it expired.
		return Token{}, errNotTokenText
	}
	return raw, nil
}

var (
	errSealedUnreadable = errors.New("dingtoken: stored token is sealed and this fetcher has no secret to open it")
	errPlaintextRefused = errors.New("dingtoken: stored token is not sealed; this key's tokens are, so it is not trusted")
	errNotTokenText     = fmt.Errorf("%w: a plaintext value with bytes a token never has", ErrCorruptValue)
)

// warnUnsealed says once per key that f's tokens stay out of the Store: f
// has no secret to seal them with, and the Manager does not put a token
// into a Store in plaintext unless told to.
func (m *Manager) warnUnsealed(ks *keyState, f Fetcher) {
	if ks.warnedUnsealed.CompareAndSwap(false, true) {
		m.log(slog.LevelWarn, "dingtoken: the fetcher has no sealing secret; its tokens stay out of the Store (implement SealingFetcher, or set Manager.StorePlaintext)",
			ks.key, "fetcher", fmt.Sprintf("%T", f))
	}
}
