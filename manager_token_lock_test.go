package dingtoken

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bradfitz/gomemcache/memcache"
	"github.com/dingtoken/dingtoken/internal/memcachedtest"
)

// countedStore is a MemcacheStore that counts the calls a Manager makes,
// and keeps the stale values it names to LoadOrLock.
type countedStore struct {
	*MemcacheStore
	loads, saves, tryLocks, lockLooks, unlocks, deletes atomic.Int32
	failLooks                                           atomic.Int32 // LoadOrLocks still to fail
	hangLooks                                           atomic.Bool  // LoadOrLocks wait for their context's end

	mu     sync.Mutex
	stales []Token
}

func (s *countedStore) Load(ctx context.Context, key string) (Token, error) {
	s.loads.Add(1)
	return s.MemcacheStore.Load(ctx, key)
}

func (s *countedStore) Save(ctx context.Context, key string, t Token) error {
	s.saves.Add(1)
	return s.MemcacheStore.Save(ctx, key, t)
}

func (s *countedStore) Delete(ctx context.Context, key, stale string) error {
	s.deletes.Add(1)
	return s.MemcacheStore.Delete(ctx, key, stale)
}

func (s *countedStore) TryLock(ctx context.Context, key string, ttl time.Duration) (func(), bool, error) {
	s.tryLocks.Add(1)
	return s.MemcacheStore.TryLock(ctx, key, ttl)
}

func (s *countedStore) LoadOrLock(ctx context.Context, key string, stale Token, ttl time.Duration) (Token, *HeldLock, error) {
	s.lockLooks.Add(1)
	s.mu.Lock()
	s.stales = append(s.stales, stale)
	s.mu.Unlock()
	if s.hangLooks.Load() {
		<-ctx.Done() // a memcached that takes the command and never answers
		return Token{}, nil, ctx.Err()
	}
	if s.failLooks.Add(-1) >= 0 {
		return Token{}, nil, errors.New("dingtoken: memcached load or lock: server error")
	}
	s.failLooks.Store(0)
	t, lock, err := s.MemcacheStore.LoadOrLock(ctx, key, stale, ttl)
	if lock != nil {
		counted := *lock
		counted.Unlock = func() { s.unlocks.Add(1); lock.Unlock() }
		lock = &counted
	}
	return t, lock, err
}

// calls returns the counts as "loads saves tryLocks lockLooks unlocks".
func (s *countedStore) calls() [5]int32 {
	return [5]int32{s.loads.Load(), s.saves.Load(), s.tryLocks.Load(), s.lockLooks.Load(), s.unlocks.Load()}
}

// named returns the stale tokens named to LoadOrLock, in order.
func (s *countedStore) named() []Token {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.stales)
}

// namedValues returns the values of the stale tokens named to LoadOrLock.
func (s *countedStore) namedValues() []string {
	var values []string
	for _, t := range s.named() {
		values = append(values, t.Value)
	}
	return values
}

func (s *countedStore) lastStale() Token {
	if named := s.named(); len(named) > 0 {
		return named[len(named)-1]
	}
	return Token{}
}

// countedManager returns a Manager on a countedStore over a memcached of
// its own, and the memcached's address, for other processes.
func countedManager(t *testing.T) (*Manager, *countedStore, string) {
	mc := memcachedtest.Start(t)
	store := &countedStore{MemcacheStore: NewMemcacheStore(patientMemcache(mc.Addr))}
	// The tests' fetchers have no secret: their tokens go in as they are.
	return &Manager{Store: store, StorePlaintext: true}, store, mc.Addr
}

// tokenElsewhere is the token that another process, a new Manager on the
// memcached at addr, gets for f.
func tokenElsewhere(t *testing.T, addr string, f Fetcher) string {
	t.Helper()
	return tokenOf(t, &Manager{Store: NewMemcacheStore(patientMemcache(addr)), StorePlaintext: true}, f)
}

// TestColdStartMakesTwoStoreCalls: a cold start on a TokenLocker waits for
// one LoadOrLock and one Save, and releases nothing after: the token took
// the lock's place. A Locker needs a load and a lock, a second load, and the
// save, with a release after.
func TestColdStartMakesTwoStoreCalls(t *testing.T) {
	m, store, addr := countedManager(t)
	f, fetches := sequenceFetcher("app:cold", time.Hour)
	tok := tokenOf(t, m, f)
	// [loads saves tryLocks lockLooks unlocks]
	if got, want := store.calls(), [5]int32{0, 1, 0, 1, 0}; got != want {
		t.Errorf("Store calls by the time the token is handed out: %v, want %v", got, want)
	}
	settle(m)
	if got, want := store.calls(), [5]int32{0, 1, 0, 1, 0}; got != want {
		t.Errorf("Store calls once the background work is done: %v, want %v", got, want)
	}
	if got := tokenElsewhere(t, addr, f); got != tok || fetches.Load() != 1 {
		t.Errorf("another process got %q after %d fetches, want %q from the Store", got, fetches.Load(), tok)
	}
}

// TestRefreshAheadLocksInPlaceOfItsOwnToken: the refresh of a token due for
// refresh names it stale, so that one LoadOrLock puts the lock in its place
// rather than hand the same token back.
func TestRefreshAheadLocksInPlaceOfItsOwnToken(t *testing.T) {
	m, store, addr := countedManager(t)
	f, fetches := sequenceFetcher("app:ahead", time.Hour)
	first := warm(t, m, f)
	m.state(f).current.Load().due.Store(true) // as the scheduler marks it inside the window
	tokenOf(t, m, f)
	settle(m)
	if looks, stale := store.lockLooks.Load(), store.lastStale(); looks != 2 || stale.Value != first {
		t.Errorf("%d LoadOrLocks, the last naming %q stale; want 2, the refresh's naming %q", looks, stale.Value, first)
	}
	if got := tokenElsewhere(t, addr, f); got != "tok-2" || fetches.Load() != 2 {
		t.Errorf("another process got %q after %d fetches, want the refreshed tok-2 from the Store", got, fetches.Load())
	}
}

// TestRevocationLocksInPlaceOfTheRejectedToken: the refresh that replaces a
// rejected token starts at once and names it stale, sealed as it was
// saved, so that one LoadOrLock puts the lock in its place, with no Delete
// racing it; the other processes then take the new token from the Store.
func TestRevocationLocksInPlaceOfTheRejectedToken(t *testing.T) {
	srv := newSim(t)
	m, store, addr := countedManager(t)
	f := appCreds(srv)
	first := tokenOf(t, m, f)
	sealed, err := store.MemcacheStore.Load(context.Background(), f.Key())
	if err != nil {
		t.Fatal(err)
	}
	srv.Revoke(first)
	c := &http.Client{Transport: &Transport{Fetcher: f, Manager: m, Base: srv.Transport()}}
	if err := apiCall(c, 0); err != nil {
		t.Fatal(err)
	}
	settle(m)
	if looks, stale := store.lockLooks.Load(), store.lastStale(); looks != 2 || !sameToken(sealed, stale) {
		t.Errorf("%d LoadOrLocks, the last naming %v stale; want 2, the refresh's naming the stored %v", looks, stale, sealed)
	}
	if n := store.deletes.Load(); n != 0 {
		t.Errorf("%d Deletes of the rejected token, want none: the lock takes its place", n)
	}
	if got := tokenElsewhere(t, addr, f); got == first || got != srv.CurrentToken(testClientID) || srv.Fetches(testClientID) != 2 {
		t.Errorf("another process got a token after %d fetches; want the new one from the Store, after 2", srv.Fetches(testClientID))
	}
}

// TestUnwantedTokenIsLockedOverOnASecondLook: the Store holds a token this
// process does not want and did not name stale (older than its own): the
// refresh names it on a second LoadOrLock, which takes its place.
func TestUnwantedTokenIsLockedOverOnASecondLook(t *testing.T) {
	m, store, _ := countedManager(t)
	f, fetches := sequenceFetcher("app:older", time.Hour)
	first := warm(t, m, f)
	older := Token{Value: "tok-older", Expiry: time.Now().Add(30 * time.Minute)}
	if err := store.MemcacheStore.Save(context.Background(), f.Key(), older); err != nil {
		t.Fatal(err)
	}
	m.state(f).current.Load().due.Store(true)
	tokenOf(t, m, f)
	settle(m)
	if stales, want := store.namedValues(), []string{"", first, older.Value}; !slices.Equal(stales, want) {
		t.Errorf("LoadOrLocks named %q stale, want %q", stales, want)
	}
	stored, err := store.MemcacheStore.Load(context.Background(), f.Key())
	if err != nil || stored.Value != "tok-2" || fetches.Load() != 2 {
		t.Errorf("the Store holds %v, %v after %d fetches; want the refreshed tok-2 after 2", stored, err, fetches.Load())
	}
}

// TestReissuedTokenIsNotLockedOver: DingTalk hands the same token out again
// with its life extended. A process whose copy of it is due for refresh
// finds the reissued one in the Store and takes it, where a lock in its
// place would cost one fetch per process instead of one per cluster.
func TestReissuedTokenIsNotLockedOver(t *testing.T) {
	mc := memcachedtest.Start(t)
	var fetches atomic.Int32
	start := time.Now()
	f := FetcherFunc("app:reissued", func(context.Context) (Token, error) {
		n := fetches.Add(1)
		return Token{Value: "tok-same", Expiry: start.Add(time.Hour + time.Duration(n)*time.Minute)}, nil
	})
	replicas := []*Manager{ // f has no secret: its tokens go in as they are
		{Store: NewMemcacheStore(patientMemcache(mc.Addr)), StorePlaintext: true},
		{Store: NewMemcacheStore(patientMemcache(mc.Addr)), StorePlaintext: true},
	}
	for _, m := range replicas {
		warm(t, m, f)
	}
	for _, m := range replicas {
		m.state(f).current.Load().due.Store(true) // as the scheduler marks it inside the window
		tokenOf(t, m, f)
		settle(m)
	}
	if n := fetches.Load(); n != 2 {
		t.Errorf("%d fetches, want 2: the first token, and its reissue taken by both processes", n)
	}
	for i, m := range replicas {
		if got, want := m.state(f).current.Load().token.Expiry, start.Add(time.Hour+2*time.Minute); !sameExpiryMs(got, want) {
			t.Errorf("process %d holds the token until %v, want the reissue's %v", i, got, want)
		}
	}
}

// sameExpiryMs reports whether two expiries are the same to the
// millisecond a Store keeps.
func sameExpiryMs(a, b time.Time) bool { return a.UnixMilli() == b.UnixMilli() }

// waitOnHolder starts a process's Token for f while another process holds
// f's refresh lock in the token's place, and returns once the process waits
// for the holder's token: the process, its Store, what saves the holder's
// token, and the token the process is to get (or its error), which a test
// may look for with len while it waits for something else.
func waitOnHolder(t *testing.T, f Fetcher) (*Manager, *countedStore, func(), <-chan string) {
	t.Helper()
	m, store, addr := countedManager(t)
	direct := patientMemcache(addr)
	if err := direct.Add(&memcache.Item{Key: memcacheKey(f.Key()), Value: []byte(memcacheLockValue + "holder"), Expiration: 30}); err != nil {
		t.Fatal(err)
	}
	got := make(chan string, 1)
	go func() {
		tok, err := m.Token(context.Background(), f)
		if err != nil {
			got <- err.Error()
			return
		}
		got <- tok.Value
	}()
	waitUntil(t, func() bool { return m.stats.lockWaits.Load() == 1 })
	holderSaves := func() {
		if err := NewMemcacheStore(direct).Save(context.Background(), f.Key(), Token{Value: "tok-holder", Expiry: time.Now().Add(time.Hour)}); err != nil {
			t.Fatal(err)
		}
	}
	return m, store, holderSaves, got
}

// TestWaiterKeepsReadingWhileTheStoreIsSkipped: a timeout (of any key's
// Store call) makes refreshes skip the Store for a while; a process that
// waits for another's token keeps reading it meanwhile, rather than fetch
// on its own at its next look.
func TestWaiterKeepsReadingWhileTheStoreIsSkipped(t *testing.T) {
	f, fetches := sequenceFetcher("app:waiter-skipped", time.Hour)
	m, store, holderSaves, got := waitOnHolder(t, f)
	m.store.timedOut()
	looks := store.lockLooks.Load() + store.loads.Load()
	waitUntil(t, func() bool { return store.lockLooks.Load()+store.loads.Load() >= looks+2 || len(got) > 0 })
	holderSaves()
	if tok := <-got; tok != "tok-holder" || fetches.Load() != 0 {
		t.Errorf("the waiter got %q after %d fetches; want the holder's token, after none", tok, fetches.Load())
	}
}

// TestWaiterOutlastsOneFailedLook: one LoadOrLock that fails while a
// process waits for another's token does not end the wait; failures in a
// row (maxLoadFailures) do.
func TestWaiterOutlastsOneFailedLook(t *testing.T) {
	f, fetches := sequenceFetcher("app:waiter-failure", time.Hour)
	_, store, holderSaves, got := waitOnHolder(t, f)
	store.failLooks.Store(1)
	waitUntil(t, func() bool { return store.failLooks.Load() == 0 })
	looks := store.lockLooks.Load()
	waitUntil(t, func() bool { return store.lockLooks.Load() >= looks+1 || len(got) > 0 })
	holderSaves()
	if tok := <-got; tok != "tok-holder" || fetches.Load() != 0 {
		t.Errorf("the waiter got %q after %d fetches; want the holder's token, after none", tok, fetches.Load())
	}

	f, fetches = sequenceFetcher("app:waiter-failures", time.Hour)
	_, store, _, got = waitOnHolder(t, f)
	store.failLooks.Store(maxLoadFailures)
	if tok := <-got; tok != "tok-1" || fetches.Load() != 1 {
		t.Errorf("after %d failed looks in a row, the waiter got %q after %d fetches; want its own tok-1", maxLoadFailures, tok, fetches.Load())
	}
}

// TestWaiterGivesUpOnALockThatKeepsTimingOut: while a process waits for
// another's token, every LoadOrLock times out and every read in between
// finds no token. The reads, made while the Store is skipped after each
// timeout, do not wipe the count of failed looks: the waiter fetches on
// its own after maxLoadFailures timeouts, not after the wait's limit of
// RefreshTimeout and more.
func TestWaiterGivesUpOnALockThatKeepsTimingOut(t *testing.T) {
	f, fetches := sequenceFetcher("app:waiter-timeouts", time.Hour)
	m, store, _, got := waitOnHolder(t, f)
	start := time.Now()
	store.hangLooks.Store(true)
	tok := <-got
	if waited := time.Since(start); tok != "tok-1" || fetches.Load() != 1 || waited > 10*time.Second {
		t.Errorf("the waiter got %q after %d fetches and %v; want its own tok-1 within 10 s (%d timeouts of %v)",
			tok, fetches.Load(), waited.Round(time.Millisecond), maxLoadFailures, m.storeTimeout())
	}
}

// TestSlowFetchKeepsItsLock: a fetch that outlasts the refresh lock's TTL
// (DingTalk failing, the fetch retried) extends the lock as it runs, so
// the replicas waiting for its token do not each fetch once the lock would
// have expired, nor give up waiting once its TTL and slack are over. The
// lock lives 3 s, extended every second: memcached's whole-second clock may
// end it up to a second early, and a loaded machine may run the extension
// late, so a shorter lock would leave no margin.
func TestSlowFetchKeepsItsLock(t *testing.T) {
	mc := memcachedtest.Start(t)
	var fetches atomic.Int32
	f := sealed(FetcherFunc("app:slow-fetch", func(ctx context.Context) (Token, error) {
		if fetches.Add(1) == 1 {
			time.Sleep(7 * time.Second) // over twice the lock's TTL; a slow DingTalk, not synchronisation
		}
		return Token{Value: "tok-slow", Expiry: time.Now().Add(time.Hour)}, nil
	}))
	ms := replicas(3, func(m *Manager) { m.lockLife = 3 * time.Second }, mc.Addr)
	tokens, _ := coldStart(t, ms, func() Fetcher { return f }, 20*time.Second)
	for i, tok := range tokens {
		if tok != "tok-slow" {
			t.Errorf("replica %d got %q, want the slow fetch's token", i, tok)
		}
	}
	if n := fetches.Load(); n != 1 {
		t.Errorf("%d fetches for 3 replicas, want 1: the waiters fetched on their own", n)
	}
}
