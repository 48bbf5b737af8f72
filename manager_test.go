package dingtoken

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// run starts n goroutines that wait for go, then call fn; it returns their
// errors once all are done.
func run(n int, fn func(i int) error) []error {
	var wg sync.WaitGroup
	start := make(chan struct{})
	errs := make([]error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			errs[i] = fn(i)
		}()
	}
	close(start)
	wg.Wait()
	return errs
}

func firstError(errs []error) error {
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

func TestColdStartTenThousandCallersOneFetch(t *testing.T) {
	srv := newSim(t)
	srv.SetTokenDelay(50 * time.Millisecond) // keep the refresh open while callers pile up
	m := &Manager{}
	f := appCreds(srv)
	want := make([]string, 10000)
	errs := run(10000, func(i int) error {
		tok, err := m.Token(context.Background(), f)
		want[i] = tok.Value
		return err
	})
	if err := firstError(errs); err != nil {
		t.Fatal(err)
	}
	if got := srv.Fetches(testClientID); got != 1 {
		t.Errorf("token endpoint called %d times for 10,000 cold callers, want 1", got)
	}
	for _, v := range want {
		if v != want[0] {
			t.Fatalf("callers got different tokens")
		}
	}
}

func TestL1HitDoesNotAllocate(t *testing.T) {
	srv := newSim(t)
	m := &Manager{}
	f := appCreds(srv)
	ctx := context.Background()
	if _, err := m.Token(ctx, f); err != nil {
		t.Fatal(err)
	}
	if allocs := testing.AllocsPerRun(1000, func() { m.Token(ctx, f) }); allocs != 0 {
		t.Errorf("L1 hit allocates %v times, want 0", allocs)
	}
	if got := m.Stats().L1Hits; got < 1000 {
		t.Errorf("L1Hits = %d, want at least 1000", got)
	}
}

// TestStaggeredInvalidationsOneRefresh: 200 requests see the same token
// rejected, in four waves, each wave after the previous one has its new
// token. Only the first invalidation drops anything.
func TestStaggeredInvalidationsOneRefresh(t *testing.T) {
	srv := newSim(t)
	m := &Manager{}
	f := appCreds(srv)
	ctx := context.Background()
	stale, err := m.Token(ctx, f)
	if err != nil {
		t.Fatal(err)
	}
	srv.Revoke(stale.Value)
	var fresh sync.Map
	for wave := range 4 {
		errs := run(50, func(int) error {
			m.Invalidate(ctx, f, stale.Value)
			tok, err := m.Token(ctx, f)
			fresh.Store(tok.Value, true)
			return err
		})
		if err := firstError(errs); err != nil {
			t.Fatalf("wave %d: %v", wave, err)
		}
	}
	if got := srv.Fetches(testClientID); got != 2 {
		t.Errorf("token endpoint called %d times, want 2 (the first token and one refresh)", got)
	}
	n := 0
	fresh.Range(func(k, _ any) bool { n++; return k != stale.Value })
	if n != 1 {
		t.Errorf("callers ended with %d different tokens, want 1 new one", n)
	}
	if got := m.Stats().Invalidations; got != 1 {
		t.Errorf("Invalidations = %d, want 1", got)
	}
}

func TestInvalidateIgnoresAnotherToken(t *testing.T) {
	srv := newSim(t)
	m := &Manager{}
	f := appCreds(srv)
	ctx := context.Background()
	tok, _ := m.Token(ctx, f)
	m.Invalidate(ctx, f, "some-older-token")
	if e := m.state(f).current.Load(); e == nil || e.token != tok {
		t.Errorf("Invalidate with another value dropped the current token")
	}
}

// blockingFetcher hands out tokens one at a time: each Fetch announces
// itself on started and waits for release.
type blockingFetcher struct {
	key      string
	lifetime time.Duration
	started  chan struct{}
	release  chan struct{}
	calls    atomic.Int32
	ctxErr   atomic.Value // the fetch context's error after release
}

func newBlockingFetcher(key string, lifetime time.Duration) *blockingFetcher {
	return &blockingFetcher{key: key, lifetime: lifetime, started: make(chan struct{}, 100), release: make(chan struct{})}
}

func (b *blockingFetcher) Key() string { return b.key }

func (b *blockingFetcher) Fetch(ctx context.Context) (Token, error) {
	n := b.calls.Add(1)
	b.started <- struct{}{}
	<-b.release
	b.ctxErr.Store(fmt.Sprint(ctx.Err()))
	return Token{Value: fmt.Sprintf("token-%d", n), Expiry: time.Now().Add(b.lifetime)}, nil
}

func TestCancelledFirstCallerDoesNotCancelTheRefresh(t *testing.T) {
	m := &Manager{}
	f := newBlockingFetcher("blocking", time.Hour)
	ctx, cancel := context.WithCancel(context.Background())
	firstErr := make(chan error, 1)
	go func() {
		_, err := m.Token(ctx, f)
		firstErr <- err
	}()
	<-f.started

	others := make(chan Token, 20)
	for range 20 {
		go func() {
			tok, _ := m.Token(context.Background(), f)
			others <- tok
		}()
	}
	cancel()
	select {
	case err := <-firstErr:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("first caller: err = %v, want context.Canceled", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the cancelled caller is still waiting")
	}
	select {
	case tok := <-others:
		t.Fatalf("a caller got %v before the fetch was released", tok)
	default:
	}
	close(f.release)
	for range 20 {
		if tok := <-others; tok.Value != "token-1" {
			t.Errorf("caller got %v, want token-1 from the single fetch", tok)
		}
	}
	if got := f.calls.Load(); got != 1 {
		t.Errorf("fetcher called %d times, want 1", got)
	}
	if got := f.ctxErr.Load(); got != "<nil>" {
		t.Errorf("the fetch's context ended with %v; the first caller's cancel reached it", got)
	}
}

// TestRefreshAheadNobodyWaits: once a token is inside its refresh-ahead
// window, callers get it at once while a single background refresh, held
// open here, is running.
func TestRefreshAheadNobodyWaits(t *testing.T) {
	m := &Manager{RefreshAhead: time.Hour}
	// A 6 s token: the window opens after about 2.5 s and lasts about 2.7 s,
	// room for the calls below on a loaded machine.
	f := newBlockingFetcher("ahead", 6*time.Second)
	ctx := context.Background()
	go func() { f.release <- struct{}{} }() // let the first fetch through
	first, err := m.Token(ctx, f)
	if err != nil {
		t.Fatal(err)
	}
	<-f.started
	waitUntil(t, func() bool { return m.state(f).current.Load().due.Load() })

	for range 100 {
		tok, err := m.Token(ctx, f)
		if err != nil || tok != first {
			t.Fatalf("inside the window got %v, %v; want the current token at once", tok, err)
		}
	}
	<-f.started // the background refresh is running, and blocked
	if got := m.Stats().BackgroundRefreshes; got != 1 {
		t.Errorf("BackgroundRefreshes = %d, want 1", got)
	}
	close(f.release)
	waitUntil(t, func() bool { return m.state(f).current.Load().token.Value == "token-2" })
	if got := f.calls.Load(); got != 2 {
		t.Errorf("fetcher called %d times, want 2", got)
	}
	waitUntil(t, func() bool { return m.state(f).flight.Load() == nil })
}

// waitUntil polls cond, for conditions that only the passage of time or a
// background goroutine can make true.
func waitUntil(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not reached in 20 s")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestFailedRefreshIsNotReturnedWhileTokenValid(t *testing.T) {
	var calls atomic.Int32
	f := FetcherFunc("flaky", func(context.Context) (Token, error) {
		if calls.Add(1) == 1 {
			return Token{Value: "only-token", Expiry: time.Now().Add(6 * time.Second)}, nil
		}
		return Token{}, errors.New("DingTalk is down")
	})
	m := &Manager{RefreshAhead: time.Hour}
	ctx := context.Background()
	if _, err := m.Token(ctx, f); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, func() bool { return m.state(f).current.Load().due.Load() })
	m.Token(ctx, f) // starts the background refresh, which fails
	waitUntil(t, func() bool { return m.Stats().FetchErrors == 1 && m.state(f).flight.Load() == nil })
	for range 1000 {
		if tok, err := m.Token(ctx, f); err != nil || tok.Value != "only-token" {
			t.Fatalf("got %v, %v; want the still-valid token", tok, err)
		}
	}
	if got := calls.Load(); got != 2 {
		t.Errorf("fetcher called %d times in the backoff, want 2", got)
	}
}

func TestFailedRefreshBacksOff(t *testing.T) {
	var calls atomic.Int32
	down := errors.New("DingTalk is down")
	f := FetcherFunc("down", func(context.Context) (Token, error) {
		calls.Add(1)
		return Token{}, down
	})
	m := &Manager{}
	ctx := context.Background()
	// A tight loop for 1.5 s: the first failure backs off 1 s, the second 2 s.
	var n int
	for start := time.Now(); time.Since(start) < 1500*time.Millisecond; n++ {
		if _, err := m.Token(ctx, f); !errors.Is(err, down) {
			t.Fatalf("err = %v, want the fetch error", err)
		}
	}
	if got := calls.Load(); got < 1 || got > 2 {
		t.Errorf("%d Token calls in 1.5 s reached the fetcher %d times, want 1 or 2", n, got)
	}
}

func TestPanickingFetcher(t *testing.T) {
	f := FetcherFunc("panics", func(context.Context) (Token, error) { panic("fetcher bug") })
	logger, logs := newLogger()
	m := &Manager{Logger: logger}
	errs := run(50, func(int) error {
		_, err := m.Token(context.Background(), f)
		return err
	})
	for _, err := range errs {
		if !errors.Is(err, ErrFetchPanicked) || !strings.Contains(err.Error(), "string") {
			t.Fatalf("err = %v, want ErrFetchPanicked naming the panic value's type", err)
		}
		// A panic value may quote a secret: neither the error nor the log shows it.
		assertNoSecret(t, "error", err.Error(), "fetcher bug")
	}
	if !strings.Contains(logs.String(), "panicked") || !strings.Contains(logs.String(), "goroutine") {
		t.Errorf("panic not logged with its stack")
	}
	assertNoSecret(t, "log", logs.String(), "fetcher bug")
}

func TestFetcherReturningNoUsableToken(t *testing.T) {
	for name, tok := range map[string]Token{
		"empty":   {Expiry: time.Now().Add(time.Hour)},
		"expired": {Value: "old", Expiry: time.Now().Add(-time.Second)},
	} {
		t.Run(name, func(t *testing.T) {
			m := &Manager{}
			_, err := m.Token(context.Background(), FetcherFunc(name, func(context.Context) (Token, error) { return tok, nil }))
			if !errors.Is(err, ErrMalformedResponse) {
				t.Errorf("err = %v, want ErrMalformedResponse", err)
			}
		})
	}
}

// brokenStore fails every call.
type brokenStore struct{ calls atomic.Int32 }

var errStoreDown = errors.New("store is down")

func (s *brokenStore) Load(context.Context, string) (Token, error) {
	s.calls.Add(1)
	return Token{}, errStoreDown
}
func (s *brokenStore) Save(context.Context, string, Token) error { s.calls.Add(1); return errStoreDown }
func (s *brokenStore) Delete(context.Context, string, string) error {
	s.calls.Add(1)
	return errStoreDown
}
func (s *brokenStore) TryLock(context.Context, string, time.Duration) (func(), bool, error) {
	s.calls.Add(1)
	return nil, false, errStoreDown
}

func TestBrokenStoreCostsNothing(t *testing.T) {
	srv := newSim(t)
	store := &brokenStore{}
	m := &Manager{Store: store}
	f := appCreds(srv)
	ctx := context.Background()
	for i := range 100 {
		tok, err := m.Token(ctx, f)
		if err != nil {
			t.Fatalf("call %d: %v", i, err)
		}
		if i == 50 { // a rejection in the middle goes through the store too
			srv.Revoke(tok.Value)
			m.Invalidate(ctx, f, tok.Value)
		}
	}
	if got := srv.Fetches(testClientID); got != 2 {
		t.Errorf("token endpoint called %d times, want 2", got)
	}
	if st := m.Stats(); st.StoreErrors == 0 || st.StoreErrors != uint64(store.calls.Load()) {
		t.Errorf("StoreErrors = %d, store calls = %d", st.StoreErrors, store.calls.Load())
	}
}

func TestStoredTokenIsAdoptedWithItsExpiry(t *testing.T) {
	srv := newSim(t)
	store := NewMemoryStore()
	expiry := time.Now().Add(37 * time.Minute).Truncate(time.Second)
	store.Save(context.Background(), "app:"+testClientID, Token{Value: "from-l2", Expiry: expiry})
	m := &Manager{Store: store, StorePlaintext: true} // as another language's program stores it
	tok, err := m.Token(context.Background(), appCreds(srv))
	if err != nil {
		t.Fatal(err)
	}
	if tok.Value != "from-l2" || !tok.Expiry.Equal(expiry) {
		t.Errorf("got %v, want the stored token with its stored expiry %v", tok, expiry)
	}
	if st := m.Stats(); st.L2Hits != 1 || st.Fetches != 0 {
		t.Errorf("stats %+v, want one L2 hit and no fetch", st)
	}
	if got := time.Unix(0, m.state(appCreds(srv)).current.Load().expireAt); !got.Before(expiry) || got.Before(expiry.Add(-expiryMargin)) {
		t.Errorf("L1 stops handing it out at %v, want just before %v", got, expiry)
	}
}

// TestManagersSharingAStoreFetchOnce: four Managers, as four processes
// would, start cold together on one Store with a lock.
func TestManagersSharingAStoreFetchOnce(t *testing.T) {
	srv := newSim(t)
	srv.SetTokenDelay(100 * time.Millisecond)
	store := NewMemoryStore()
	managers := make([]*Manager, 4)
	for i := range managers {
		managers[i] = &Manager{Store: store}
	}
	errs := run(400, func(i int) error {
		_, err := managers[i%4].Token(context.Background(), appCreds(srv))
		return err
	})
	if err := firstError(errs); err != nil {
		t.Fatal(err)
	}
	if got := srv.Fetches(testClientID); got != 1 {
		t.Errorf("token endpoint called %d times by 4 managers, want 1", got)
	}
}

func TestRejectedTokenIsNotAdoptedFromStore(t *testing.T) {
	srv := newSim(t)
	store := NewMemoryStore()
	m := &Manager{Store: store, StorePlaintext: true}
	f := appCreds(srv)
	ctx := context.Background()
	stale, _ := m.Token(ctx, f)
	srv.Revoke(stale.Value)
	m.Invalidate(ctx, f, stale.Value)
	// Another process, unaware, writes the rejected token back.
	store.Save(ctx, f.Key(), stale)
	tok, err := m.Token(ctx, f)
	if err != nil || tok.Value == stale.Value {
		t.Errorf("got %v, %v; want a fresh token", tok, err)
	}
}

func TestNilFetcher(t *testing.T) {
	if _, err := (&Manager{}).Token(context.Background(), nil); err == nil {
		t.Error("nil Fetcher: no error")
	}
}

// TestFlushWhileInUse: Flush may run while requests go on; it waits for a
// moment with no work under way, and never breaks the Manager.
func TestFlushWhileInUse(t *testing.T) {
	srv := newSim(t)
	m := &Manager{Store: NewMemoryStore()}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				tok, err := m.Token(context.Background(), appCreds(srv))
				if err == nil {
					if e := m.state(appCreds(srv)).current.Load(); e != nil {
						e.accept() // so that rejections are not damped
					}
					m.Invalidate(context.Background(), appCreds(srv), tok.Value)
				}
			}
		}()
	}
	for deadline := time.Now().Add(300 * time.Millisecond); time.Now().Before(deadline); {
		ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
		m.Flush(ctx)
		cancel()
	}
	close(stop)
	wg.Wait()
	if err := m.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
}

// TestFlushWaitsForRefreshes: a refresh under way holds the cluster lock;
// Flush returns once it is done, not before.
func TestFlushWaitsForRefreshes(t *testing.T) {
	release := make(chan struct{})
	started := make(chan struct{})
	f := FetcherFunc("slow", func(context.Context) (Token, error) {
		close(started)
		<-release
		return Token{Value: "tok", Expiry: time.Now().Add(time.Hour)}, nil
	})
	m := &Manager{Store: NewMemoryStore()}
	go m.Token(context.Background(), f)
	<-started
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if err := m.Flush(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Flush with a refresh under way = %v, want it to wait", err)
	}
	close(release)
	if err := m.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, ok, _ := m.Store.(Locker).TryLock(context.Background(), "slow", time.Second); !ok {
		t.Error("the refresh's lock is still held after Flush")
	}
}
