package dingtoken

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"
)

// Defaults for the [Manager]'s fields.
const (
	DefaultRefreshAhead   = 10 * time.Minute
	DefaultRefreshTimeout = 30 * time.Second
	DefaultStoreTimeout   = time.Second
)

const (
	// expiryMargin: a token is no longer handed out this long before its
	// Expiry (at most a tenth of its lifetime), so it cannot expire in flight.
	expiryMargin = 10 * time.Second
	// refreshSpread: each token's refresh moment falls at random in this
	// fraction of its refresh-ahead window, the earlier part, so that keys
	// and replicas do not all refresh at the same moment.
	refreshSpread = 0.5
	// After a failed refresh, callers with no valid token get the same error
	// for a while instead of a new call to DingTalk: 1 s, doubling to 30 s.
	minFailureBackoff = time.Second
	maxFailureBackoff = 30 * time.Second
	// A token obtained to replace a rejected one and rejected too within
	// rejectionChain is not dropped: DingTalk is rejecting something other
	// than the token (a path that wants a user's token, say). Rejections of
	// the key then do not drop tokens for dampFor.
	rejectionChain = time.Minute
	dampFor        = time.Minute
)

// Manager caches access tokens per [Fetcher] key: in memory (L1) and, with a
// Store, in a cache shared by every process (L2). It fetches each token once
// however many callers want it, refreshes it in the background before it
// expires, and drops it when DingTalk rejects it.
//
// The zero Manager is ready to use; set the fields before first use.
type Manager struct {
	// Store, if not nil, shares tokens between processes. If it also
	// implements TokenLocker or Locker, one process per cluster fetches a
	// token.
	Store Store
	// RefreshAhead is how long before a token expires a background refresh
	// may start while callers keep getting the current token; each token
	// picks its moment at random in the first half of that window. If zero,
	// DefaultRefreshAhead is used; if negative, tokens are refreshed only
	// when they expire.
	RefreshAhead time.Duration
	// RefreshTimeout bounds one call to DingTalk's token endpoint (the
	// Fetcher), however long callers wait. Waiting for another process's
	// refresh does not count against it. If zero, DefaultRefreshTimeout is
	// used.
	RefreshTimeout time.Duration
	// StoreTimeout bounds each Store call. If zero, DefaultStoreTimeout is used.
	StoreTimeout time.Duration
	// StorePlaintext, if true, puts tokens into the Store as they are, for
	// programs in other languages that share it, and for Fetchers without a
	// secret; sealed values other processes saved are still read. By
	// default the tokens of a SealingFetcher (every credential type in this
	// package) are sealed with AES-GCM under a key derived from the app's
	// secret, so that reading memcached yields nothing usable, and those of
	// a Fetcher without a secret (a FetcherFunc) stay out of the Store.
	StorePlaintext bool
	// Logger receives refreshes, failures and store errors; nil is silent.
	// Tokens and secrets are never logged.
	Logger *slog.Logger
	// Hooks, if not nil, observe every fetch, rejection, retry and store
	// error, for metrics and traces.
	Hooks *Hooks

	keys      sync.Map     // key -> *keyState
	fetchers  sync.Map     // pointer Fetcher of another package -> *keyState
	keyCount  atomic.Int64 // entries in keys
	sched     scheduler    // marks tokens due, forgets idle keys
	schedOnce sync.Once    // sets sched.run
	store     storeHealth  // skips a Store that timed out, for a while
	work      pending      // refreshes and background Store work, for Flush
	stats     counters
	rejectMu  sync.Mutex // orders a rejection's record before or after a refresh's install (installUnlessRejected)

	forgetAfter time.Duration // how long idle keys are kept; zero: defaultIdleAfter (tests shorten it)
	lockLife    time.Duration // the refresh lock's TTL; zero: lockTTL (tests shorten it)

	testHookBeforeJoin func() // called by a caller that found no backoff, before it joins or starts a refresh
	testHookDropped    func() // called by invalidate right after it dropped the token
	testHookInstalled  func() // called by install right after the new token took the old one's place
	testHookInstalling func() // called by refresh right before it installs the token it obtained
}

// DefaultManager is the Manager used by a [Transport] whose Manager is nil.
var DefaultManager = &Manager{}

type failure struct {
	err     error
	retryAt time.Time
	count   int // consecutive failures
}

// flight is one refresh of a key, shared by every caller that waits for it.
type flight struct {
	done chan struct{} // closed when e or err is set
	e    *entry
	err  error
}

var errNilFetcher = errors.New("dingtoken: nil Fetcher")

// Token returns a valid token for f. From memory it is a few atomic loads,
// with no lock, no clock read and no allocation. Otherwise the caller waits,
// on its own ctx, for the one refresh of that key, which runs detached from
// every caller.
func (m *Manager) Token(ctx context.Context, f Fetcher) (Token, error) {
	e, err := m.entry(ctx, f)
	if err != nil {
		return Token{}, err
	}
	return e.token, nil
}

// entry is Token, returning the cache entry, which a Transport uses.
func (m *Manager) entry(ctx context.Context, f Fetcher) (*entry, error) {
	if f == nil {
		return nil, errNilFetcher
	}
	sl, id := slotOf(f)
	if sl == &nilSlot {
		return nil, errNilFetcher
	}
	if e := sl.hit(m, id); e != nil {
		m.served(e)
		return e, nil
	}
	ks := m.stateIn(f, sl, id)
	if e := ks.current.Load(); e != nil {
		if !e.due.Load() {
			sl.keep(e, id)
			m.served(e)
			return e, nil
		}
		if now := time.Now(); e.usableAt(now) {
			m.served(e)
			m.refreshInBackground(ctx, ks, f, now)
			return e, nil
		}
	}
	return m.waitForRefresh(ctx, ks, f)
}

// served counts e handed out from memory. Only a hook reads e.ks, off the
// cache line that a hit reads.
func (m *Manager) served(e *entry) {
	m.stats.l1Hits.add()
	if h := m.Hooks; h != nil && h.TokenServed != nil {
		h.TokenServed(TokenServedInfo{Key: e.ks.key, Source: FromMemory})
	}
}

// Invalidate drops the token for f if its value is still stale, both here and
// in the Store, so that the next Token call gets a fresh one. Many callers
// reporting the same rejected token cause one refresh: only the first finds
// stale still cached. With a [TokenLocker] that holds the token, that
// refresh starts at once, and its lock takes the token's place there.
//
// Rejections are damped as a chain: the first rejection of a token always
// drops it, but when the token fetched to replace a rejected one is rejected
// too, within a minute and before DingTalk ever took it, the key stops
// dropping tokens for a minute: DingTalk is rejecting something else.
func (m *Manager) Invalidate(ctx context.Context, f Fetcher, stale string) {
	m.invalidate(ctx, f, stale)
}

// invalidate is Invalidate, reporting whether the caller should send its
// request again with a fresh token.
func (m *Manager) invalidate(ctx context.Context, f Fetcher, stale string) (retry bool) {
	sl, id := slotOf(f)
	if f == nil || stale == "" || sl == &nilSlot {
		return false
	}
	ks := m.stateIn(f, sl, id)
	now := time.Now()
	if now.UnixNano() < ks.damped.Load() {
		m.stats.dampedRejections.Add(1)
		return false
	}
	m.rejectMu.Lock()
	ks.reject(Token{Value: stale})
	ks.rejections.Add(1)
	m.rejectMu.Unlock()
	e := ks.current.Load()
	if e == nil || e.token.Value != stale {
		return true // dropped already; the current token is another one
	}
	if e.replacement && !e.accepted.Load() && now.Sub(time.Unix(0, e.obtained)) < rejectionChain {
		ks.damped.Store(now.Add(dampFor).UnixNano())
		m.stats.dampedRejections.Add(1)
		m.log(slog.LevelWarn, "dingtoken: DingTalk rejected the token that replaced a rejected one; "+
			"not dropping this key's tokens for a while, and passing DingTalk's answers on", ks.key, "for", dampFor)
		return false
	}
	// Retired before it is dropped: a caller that finds it dropped (and
	// retries) must not get it from a fetcher slot. It is never current
	// again, whoever drops it.
	e.retired.Store(true)
	// With its expiry, so that a refresh can name it stale to the Store.
	ks.reject(e.token)
	if !ks.current.CompareAndSwap(e, nil) {
		return true
	}
	if m.testHookDropped != nil {
		m.testHookDropped()
	}
	ks.replacing.Store(true)
	ks.recordDropped(e.token)
	m.stats.invalidations.Add(1)
	m.log(slog.LevelInfo, "dingtoken: DingTalk rejected the token; dropped it", ks.key)
	if !m.replaceInStore(ctx, ks, f, e) {
		m.deleteShared(ctx, ks, f, e)
	}
	return true
}

// refreshInBackground starts one refresh of ks unless one is running or the
// last one failed too recently. Callers never wait for it.
func (m *Manager) refreshInBackground(ctx context.Context, ks *keyState, f Fetcher, now time.Time) {
	if fl := ks.failure.Load(); fl != nil && now.Before(fl.retryAt) {
		return
	}
	if ks.flight.Load() != nil {
		return
	}
	if _, started := m.join(ctx, ks, f, true); started {
		ks.lastAsked.Store(now.UnixNano())
		m.stats.backgroundRefreshes.Add(1)
		if h := m.Hooks; h != nil && h.BackgroundRefresh != nil {
			h.BackgroundRefresh(BackgroundRefreshInfo{Key: ks.key})
		}
	}
}

// waitForRefresh joins (or starts) the refresh of ks and waits for it until
// ctx is done; the refresh goes on for the other callers either way.
func (m *Manager) waitForRefresh(ctx context.Context, ks *keyState, f Fetcher) (*entry, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("dingtoken: token of %s: %w", ks.key, err)
	}
	now := time.Now()
	ks.lastAsked.Store(now.UnixNano())
	if fl := ks.failure.Load(); fl != nil && now.Before(fl.retryAt) {
		return nil, fl.err
	}
	if m.testHookBeforeJoin != nil {
		m.testHookBeforeJoin()
	}
	fl, _ := m.join(ctx, ks, f, false)
	select {
	case <-fl.done:
		if fl.err != nil {
			return nil, fl.err
		}
		return fl.e, nil
	case <-ctx.Done():
		return nil, fmt.Errorf("dingtoken: waiting for the token of %s: %w", ks.key, ctx.Err())
	}
}

// join returns the refresh of ks under way, or starts one, detached from
// the caller's cancellation.
//
// A refresh starts under the scheduler's lock, under which the scheduler
// forgets keys that have no refresh: a key forgotten since the caller found
// it gets its refresh in the key's new state, where the next caller finds
// the token, rather than in one nobody looks up any more.
func (m *Manager) join(ctx context.Context, ks *keyState, f Fetcher, background bool) (fl *flight, started bool) {
	s := m.scheduler()
	for {
		if fl := ks.flight.Load(); fl != nil {
			return fl, false
		}
		fl := &flight{done: make(chan struct{})}
		s.mu.Lock()
		if ks.forgotten.Load() {
			s.mu.Unlock()
			live := m.stateByKey(ks.key)
			live.lastAsked.Store(max(live.lastAsked.Load(), ks.lastAsked.Load()))
			ks = live
			continue
		}
		started := ks.flight.CompareAndSwap(nil, fl)
		s.mu.Unlock()
		if started {
			m.work.add()
			go m.fly(context.WithoutCancel(ctx), ks, f, fl, background)
			return fl, true
		}
	}
}

// fly runs the refresh fl and lets its waiters go. A Store or hook that
// panics, or calls runtime.Goexit, becomes an error for every waiter.
func (m *Manager) fly(ctx context.Context, ks *keyState, f Fetcher, fl *flight, background bool) {
	finished := false
	defer func() {
		if !finished {
			fl.e, fl.err = nil, fmt.Errorf("%w: refreshing %s: %s", ErrFetchPanicked, ks.key, describePanic(recover()))
			m.recordFailure(ks, fl.err)
			m.log(slog.LevelError, "dingtoken: refresh panicked", ks.key, "err", fl.err)
		}
		ks.flight.CompareAndSwap(fl, nil)
		close(fl.done)
		m.work.done()
	}()
	fl.e, fl.err = m.refresh(ctx, ks, f, background)
	finished = true
}

// refresh gets a token for ks and puts it in L1.
func (m *Manager) refresh(ctx context.Context, ks *keyState, f Fetcher, background bool) (*entry, error) {
	// A refresh that finished just before this one started already did the
	// work, or failed: its backoff holds for this one too.
	if e := ks.current.Load(); e != nil && !e.due.Load() {
		return e, nil
	}
	if fl := ks.failure.Load(); fl != nil && time.Now().Before(fl.retryAt) {
		return nil, fl.err
	}
	gen := ks.rejections.Load()
	for again := true; ; again = false {
		t, stored, err := m.obtain(ctx, ks, f, background)
		if err != nil {
			m.recordFailure(ks, err)
			return nil, err
		}
		e := m.newEntry(t, time.Now())
		e.inStore = stored
		if m.testHookInstalling != nil {
			m.testHookInstalling()
		}
		if !m.installUnlessRejected(ks, e, gen, again) {
			continue
		}
		ks.failure.Store(nil)
		return e, nil
	}
}

// installUnlessRejected installs e, unless recheck is set and DingTalk
// rejected e's token since ks had seen gen rejections: it re-issues an
// internal app's token until it revokes it, so a refresh may obtain the
// very token a caller is reporting rejected. The look and the install are
// one step against a rejection's record: a rejection recorded before it is
// seen here, and one recorded after finds e current and drops it, so the
// token is never handed out after its rejection was known.
//
// The refresh is planned after the lock is let go: the scheduler's own
// lock may be held a while (forgetting many idle keys at once), and
// rejections of other keys need not wait for it.
func (m *Manager) installUnlessRejected(ks *keyState, e *entry, gen uint32, recheck bool) bool {
	m.rejectMu.Lock()
	if recheck && ks.rejectedSince(gen, e.token) {
		m.rejectMu.Unlock()
		return false
	}
	e.replacement = ks.replacing.Swap(false)
	m.place(ks, e)
	m.rejectMu.Unlock()
	m.plan(ks, e)
	return true
}

// rejectedSince reports whether DingTalk rejected t after ks had seen gen
// rejections.
func (ks *keyState) rejectedSince(gen uint32, t Token) bool {
	if ks.rejections.Load() == gen {
		return false
	}
	return ks.wasRejected(t.Value)
}

// recordFailure starts or lengthens the backoff after a failed refresh.
func (m *Manager) recordFailure(ks *keyState, err error) {
	count := 1
	if prev := ks.failure.Load(); prev != nil {
		count = prev.count + 1
	}
	backoff := maxFailureBackoff
	if count < 6 {
		backoff = min(minFailureBackoff<<(count-1), maxFailureBackoff)
	}
	if errors.Is(err, ErrNoSuiteTicket) {
		// No call to DingTalk failed, and the first push may come at any
		// moment: looking again costs a look at the SuiteTickets.
		backoff = minFailureBackoff
	}
	ks.failure.Store(&failure{err: err, retryAt: time.Now().Add(backoff), count: count})
}

func (m *Manager) refreshTimeout() time.Duration {
	if m.RefreshTimeout > 0 {
		return m.RefreshTimeout
	}
	return DefaultRefreshTimeout
}

func (m *Manager) log(level slog.Level, msg, key string, args ...any) {
	if m.Logger == nil {
		return
	}
	m.Logger.Log(context.Background(), level, msg, append([]any{"key", key}, args...)...)
}

// Flush waits until the Manager has no refresh and no background Store work
// under way (the release of a refresh lock, the removal of a rejected token,
// a save while the Store was being skipped). Call it before a short-lived
// process (a job, a function) exits, so that it leaves no lock behind for
// the others to wait out. It may be called while the Manager is in use; it
// returns ctx's error if ctx ends first.
func (m *Manager) Flush(ctx context.Context) error {
	return m.work.wait(ctx)
}

// background runs fn, a Store call no caller needs to wait for, on a
// goroutine of its own. A hook, or a lock's Unlock, that panics there,
// where no refresh's recovery reaches, is logged rather than left to end
// the process.
func (m *Manager) background(fn func()) {
	m.work.add()
	go func() {
		defer m.work.done()
		returned := false
		defer func() {
			if !returned {
				m.log(slog.LevelError, "dingtoken: background store work panicked", "", "err", describePanic(recover()))
			}
		}()
		fn()
		returned = true
	}()
}
