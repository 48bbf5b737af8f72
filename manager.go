package dingtoken

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"reflect"
	"runtime/debug"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/singleflight"
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
	// refreshJitter: each token's refresh-ahead window is shortened by up to
	// this fraction, so replicas do not all refresh at the same moment.
	refreshJitter = 0.1
	// After a failed refresh, callers with no valid token get the same error
	// for a while instead of a new call to DingTalk: 1 s, doubling to 30 s.
	minFailureBackoff = time.Second
	maxFailureBackoff = 30 * time.Second
	// The cluster refresh lock outlives a normal fetch; a process that finds
	// it taken waits at most lockWait for the holder's token.
	lockTTL          = 15 * time.Second
	lockWait         = 5 * time.Second
	lockPollInterval = 25 * time.Millisecond
	// maxFetcherCache bounds the per-Fetcher shortcut to a key's state, so
	// that a program making a new Fetcher per request does not grow it.
	maxFetcherCache = 1024
)

// Manager caches access tokens per [Fetcher] key: in memory (L1) and, with a
// Store, in a cache shared by every process (L2). It fetches each token once
// however many callers want it, refreshes it in the background before it
// expires, and drops it when DingTalk rejects it.
//
// The zero Manager is ready to use; set the fields before first use.
type Manager struct {
	// Store, if not nil, shares tokens between processes. If it also
	// implements Locker, one process per cluster fetches a token.
	Store Store
	// RefreshAhead is how long before a token expires a background refresh
	// starts while callers keep getting the current token. If zero,
	// DefaultRefreshAhead is used; if negative, tokens are refreshed only
	// when they expire.
	RefreshAhead time.Duration
	// RefreshTimeout bounds one refresh, however long callers wait. If zero,
	// DefaultRefreshTimeout is used.
	RefreshTimeout time.Duration
	// StoreTimeout bounds each Store call. If zero, DefaultStoreTimeout is used.
	StoreTimeout time.Duration
	// StorePlaintext, if true, puts tokens into the Store as they are, for
	// programs in other languages that share it. By default the tokens of a
	// SealingFetcher (every fetcher in this package) are sealed with AES-GCM
	// under a key derived from the app's secret, so that reading memcached
	// yields nothing usable.
	StorePlaintext bool
	// Logger receives refreshes, failures and store errors; nil is silent.
	// Tokens and secrets are never logged.
	Logger *slog.Logger

	mu        sync.Mutex                                // guards byKey and writes of byFetcher
	byKey     map[string]*keyState                      // lazily initialised
	byFetcher atomic.Pointer[map[Fetcher]*fetcherState] // copied on write; pointer Fetchers only
	last      atomic.Pointer[fetcherState]              // the pointer Fetcher looked up last
	flights   singleflight.Group                        // one refresh per key at a time
	stats     counters
}

// DefaultManager is the Manager used by a [Transport] whose Manager is nil.
var DefaultManager = &Manager{}

// fetcherState ties a pointer Fetcher to its key's state.
type fetcherState struct {
	fetcher Fetcher
	ks      *keyState
}

// keyState is everything the Manager knows about one key.
type keyState struct {
	key        string
	current    atomic.Pointer[entry]   // nil: no token
	refreshing atomic.Bool             // a background refresh is running
	failure    atomic.Pointer[failure] // the last refresh failed; nil after a success
	rejected   atomic.Pointer[string]  // the last token DingTalk rejected; never adopted again
	sealer     *sealer                 // seals tokens for the Store; nil: stored as they are

	// dropped holds digests of the tokens dropped within their lifetime, for issuedToken.
	dropped atomic.Pointer[droppedTokens]
}

type failure struct {
	err     error
	retryAt time.Time
	count   int // consecutive failures
}

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
		return nil, errors.New("dingtoken: nil Fetcher")
	}
	ks := m.state(f)
	if e := ks.current.Load(); e != nil {
		if !e.due.Load() {
			m.stats.l1Hits.add()
			return e, nil
		}
		if now := time.Now(); now.Before(e.expireAt) {
			m.stats.l1Hits.add()
			m.refreshInBackground(ctx, ks, f, now)
			return e, nil
		}
	}
	return m.waitForRefresh(ctx, ks, f)
}

// Invalidate drops the token for f if its value is still stale, both here and
// in the Store, so that the next Token call gets a fresh one. Many callers
// reporting the same rejected token cause one refresh: only the first finds
// stale still cached.
func (m *Manager) Invalidate(ctx context.Context, f Fetcher, stale string) {
	m.invalidate(ctx, f, stale)
}

// invalidate is Invalidate, reporting whether the caller should send its
// request again with a fresh token.
func (m *Manager) invalidate(ctx context.Context, f Fetcher, stale string) (retry bool) {
	if f == nil || stale == "" {
		return false
	}
	ks := m.state(f)
	ks.rejected.Store(&stale)
	e := ks.current.Load()
	if e == nil || e.token.Value != stale || !ks.current.CompareAndSwap(e, nil) {
		return true // dropped already; the current token is another one
	}
	e.stop()
	ks.recordDropped(e.token)
	m.stats.invalidations.Add(1)
	m.log(slog.LevelInfo, "dingtoken: DingTalk rejected the token; dropped it", ks.key)
	m.deleteShared(ctx, ks, e)
	return true
}

// state returns the keyState for f. Pointer Fetchers are looked up by
// identity first, which needs neither f.Key() (it may allocate) nor a lock:
// the last one used, then a map of all.
func (m *Manager) state(f Fetcher) *keyState {
	// last only ever holds a pointer Fetcher, so == cannot panic on an
	// incomparable f.
	if l := m.last.Load(); l != nil && l.fetcher == f {
		return l.ks
	}
	if byF := m.byFetcher.Load(); byF != nil && isPointer(f) {
		if fs := (*byF)[f]; fs != nil {
			m.last.Store(fs)
			return fs.ks
		}
	}
	return m.addState(f)
}

// addState finds or creates the keyState for f's key, under m.mu.
func (m *Manager) addState(f Fetcher) *keyState {
	key := f.Key()
	m.mu.Lock()
	defer m.mu.Unlock()
	ks := m.byKey[key]
	if ks == nil {
		if m.byKey == nil {
			m.byKey = make(map[string]*keyState)
		}
		ks = &keyState{key: key, sealer: m.sealerFor(f, key)}
		m.byKey[key] = ks
	}
	if old := m.byFetcher.Load(); isPointer(f) && (old == nil || len(*old) < maxFetcherCache) {
		next := map[Fetcher]*fetcherState{}
		if old != nil {
			next = maps.Clone(*old)
		}
		fs := &fetcherState{fetcher: f, ks: ks}
		next[f] = fs
		m.byFetcher.Store(&next)
		m.last.Store(fs)
	}
	return ks
}

func isPointer(f Fetcher) bool { return reflect.TypeOf(f).Kind() == reflect.Pointer }

// refreshInBackground starts one refresh of ks unless one is running or the
// last one failed too recently. Callers never wait for it.
func (m *Manager) refreshInBackground(ctx context.Context, ks *keyState, f Fetcher, now time.Time) {
	if fl := ks.failure.Load(); fl != nil && now.Before(fl.retryAt) {
		return
	}
	if !ks.refreshing.CompareAndSwap(false, true) {
		return
	}
	m.stats.backgroundRefreshes.Add(1)
	ch := m.flights.DoChan(ks.key, func() (any, error) { return m.refresh(ctx, ks, f) })
	go func() {
		defer ks.refreshing.Store(false)
		<-ch
	}()
}

// waitForRefresh joins (or starts) the refresh of ks and waits for it until
// ctx is done; the refresh goes on for the other callers either way.
func (m *Manager) waitForRefresh(ctx context.Context, ks *keyState, f Fetcher) (*entry, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("dingtoken: token of %s: %w", ks.key, err)
	}
	if fl := ks.failure.Load(); fl != nil && time.Now().Before(fl.retryAt) {
		return nil, fl.err
	}
	ch := m.flights.DoChan(ks.key, func() (any, error) { return m.refresh(ctx, ks, f) })
	select {
	case r := <-ch:
		if r.Err != nil {
			return nil, r.Err
		}
		return r.Val.(*entry), nil
	case <-ctx.Done():
		return nil, fmt.Errorf("dingtoken: waiting for the token of %s: %w", ks.key, ctx.Err())
	}
}

// refresh gets a token for ks and puts it in L1. It runs inside a
// singleflight call, detached from the caller that started it, and turns a
// panic into an error for every waiter.
func (m *Manager) refresh(caller context.Context, ks *keyState, f Fetcher) (result any, err error) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(caller), m.refreshTimeout())
	defer cancel()
	defer func() {
		if r := recover(); r != nil {
			m.stats.fetchErrors.Add(1)
			err = fmt.Errorf("%w: fetch %s: %v", ErrFetchPanicked, ks.key, r)
			m.log(slog.LevelError, "dingtoken: fetcher panicked", ks.key, "panic", fmt.Sprint(r), "stack", string(debug.Stack()))
		}
		if err != nil {
			m.recordFailure(ks, err)
		}
	}()

	// A refresh that finished just before this one started already did the work.
	if e := ks.current.Load(); e != nil && !e.due.Load() {
		return e, nil
	}
	t, stored, err := m.obtain(ctx, ks, f)
	if err != nil {
		return nil, err
	}
	e := m.newEntry(t, time.Now())
	e.stored = stored
	e.arm()
	ks.current.Swap(e).stop()
	ks.failure.Store(nil)
	return e, nil
}

// fetch asks DingTalk, through f, for a token.
func (m *Manager) fetch(ctx context.Context, ks *keyState, f Fetcher) (Token, error) {
	m.stats.fetches.Add(1)
	t, err := f.Fetch(ctx)
	if err == nil && t.Value == "" {
		err = fmt.Errorf("%w: the fetcher returned an empty token", ErrMalformedResponse)
	}
	if err == nil && !t.Expiry.After(time.Now()) {
		err = fmt.Errorf("%w: the fetcher returned a token that has already expired", ErrMalformedResponse)
	}
	if err != nil {
		m.stats.fetchErrors.Add(1)
		if !strings.HasPrefix(err.Error(), "dingtoken: ") {
			err = fmt.Errorf("dingtoken: fetch %s: %w", ks.key, err)
		}
		m.log(slog.LevelWarn, "dingtoken: token fetch failed", ks.key, "err", err)
		return Token{}, err
	}
	m.log(slog.LevelInfo, "dingtoken: fetched a token", ks.key, "expiry", t.Expiry)
	return t, nil
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
