package dingtoken

import (
	"context"
	"fmt"
	"runtime"
	"testing"
	"time"
	"weak"
)

// Many keys, as an ISV holding one corp token per authorising company.

// keyedFetcher is a Fetcher of another package, by pointer.
type keyedFetcher struct {
	key     string
	payload []byte
}

func (f *keyedFetcher) Key() string { return f.key }
func (f *keyedFetcher) Fetch(context.Context) (Token, error) {
	return Token{Value: "tok-" + f.key, Expiry: time.Now().Add(time.Hour)}, nil
}

// valueFetcher is a Fetcher of another package, by value.
type valueFetcher struct{ key string }

func (f valueFetcher) Key() string { return f.key }
func (f valueFetcher) Fetch(context.Context) (Token, error) {
	return Token{Value: "tok-" + f.key, Expiry: time.Now().Add(time.Hour)}, nil
}

func TestCacheHitAllocatesNothingForEveryKindOfFetcher(t *testing.T) {
	srv := newSim(t)
	for _, tt := range []struct {
		name string
		f    Fetcher
	}{
		{"AppCredentials", appCreds(srv)},
		{"CorpCredentials", &CorpCredentials{SuiteKey: "s", AuthCorpID: "c", SuiteTicket: func(context.Context) (string, error) { return "", nil }}},
		{"SuiteCredentials", &SuiteCredentials{SuiteKey: "suite"}},
		{"SSOCredentials", &SSOCredentials{CorpID: "corp"}},
		{"ClientCredentials", &ClientCredentials{ClientID: "client", CorpID: "corp"}},
		{"JSAPITicket", &JSAPITicket{App: &AppCredentials{ClientID: "app"}}},
		{"FetcherFunc", FetcherFunc("func", func(context.Context) (Token, error) {
			return Token{Value: "v", Expiry: time.Now().Add(time.Hour)}, nil
		})},
		{"pointer of another package", &keyedFetcher{key: "ptr"}},
		{"value of another package", valueFetcher{key: "value"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			m := &Manager{}
			ctx := context.Background()
			// Other keys in the Manager, so that nothing is found by luck.
			for i := range 100 {
				m.Token(ctx, valueFetcher{key: fmt.Sprint("other-", i)})
			}
			if sl, _ := slotOf(tt.f); sl != nil && !isFunc(tt.f) {
				// Credentials that would call DingTalk: a token as a fetch would leave it.
				m.install(m.state(tt.f), m.newEntry(Token{Value: "corp", Expiry: time.Now().Add(time.Hour)}, time.Now()))
			} else if _, err := m.Token(ctx, tt.f); err != nil {
				t.Fatal(err)
			}
			if allocs := testing.AllocsPerRun(1000, func() { m.Token(ctx, tt.f) }); allocs != 0 {
				t.Errorf("cache hit allocates %v times, want 0", allocs)
			}
		})
	}
}

func isFunc(f Fetcher) bool { _, ok := f.(*funcFetcher); return ok }

// TestCopiedCredentialsUseTheirOwnKey: a credentials struct copied by value
// and given another app does not inherit its original's token.
func TestCopiedCredentialsUseTheirOwnKey(t *testing.T) {
	srv := newSim(t)
	srv.AddApp("ding-other", "other-secret")
	m := &Manager{}
	a := appCreds(srv)
	ta, err := m.Token(context.Background(), a)
	if err != nil {
		t.Fatal(err)
	}
	b := *a
	b.ClientID, b.ClientSecret = "ding-other", "other-secret"
	tb, err := m.Token(context.Background(), &b)
	if err != nil || tb.Value == ta.Value || tb.Value != srv.CurrentToken("ding-other") {
		t.Errorf("the copy got %v, %v; want ding-other's own token", tb, err)
	}
}

// TestDroppedFetchersAreCollected: the Manager holds no reference to the
// Fetchers of this package, so a program that makes one per request does
// not keep them alive.
func TestDroppedFetchersAreCollected(t *testing.T) {
	srv := newSim(t)
	m := &Manager{}
	refs := make([]weak.Pointer[AppCredentials], 64)
	for i := range refs {
		f := appCreds(srv)
		if _, err := m.Token(context.Background(), f); err != nil {
			t.Fatal(err)
		}
		refs[i] = weak.Make(f)
	}
	runtime.GC()
	runtime.GC()
	for i, r := range refs {
		if r.Value() != nil {
			t.Fatalf("fetcher %d is still reachable after it was dropped", i)
		}
	}
}

// TestIdleKeysAreForgotten: keys whose token expired with nobody asking are
// removed, with the Fetcher pointers they held.
func TestIdleKeysAreForgotten(t *testing.T) {
	m := &Manager{forgetAfter: 50 * time.Millisecond}
	var refs []weak.Pointer[keyedFetcher]
	for i := range 100 {
		f := &keyedFetcher{key: fmt.Sprint("corp-", i), payload: make([]byte, 64<<10)}
		m.install(m.state(f), m.newEntry(Token{Value: "short", Expiry: time.Now().Add(300 * time.Millisecond)}, time.Now()))
		refs = append(refs, weak.Make(f))
	}
	if got := m.Stats().Keys; got != 100 {
		t.Fatalf("Keys = %d, want 100", got)
	}
	waitUntil(t, func() bool { return m.Stats().Keys == 0 })
	runtime.GC()
	runtime.GC()
	for i, r := range refs {
		if r.Value() != nil {
			t.Fatalf("fetcher %d of a forgotten key is still reachable", i)
		}
	}
	// A forgotten key comes back on its next use.
	if _, err := m.Token(context.Background(), &keyedFetcher{key: "corp-1"}); err != nil || m.Stats().Keys != 1 {
		t.Errorf("after forgetting: %v, %d keys", err, m.Stats().Keys)
	}
}

// TestBytesPerKey: each key held costs at most 600 bytes: no timer and no
// cipher of its own.
func TestBytesPerKey(t *testing.T) {
	const n = 20000
	fetchers := make([]Fetcher, n)
	for i := range fetchers {
		fetchers[i] = &CorpCredentials{SuiteKey: "suite", SuiteSecret: "suite-secret", AuthCorpID: fmt.Sprintf("ding%028d", i)}
	}
	m := &Manager{}
	expiry := time.Now().Add(2 * time.Hour)
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	for i, f := range fetchers {
		// A 32-character token, as DingTalk's, installed as a fetch would.
		m.install(m.state(f), m.newEntry(Token{Value: fmt.Sprintf("%032x", i), Expiry: expiry}, time.Now()))
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	perKey := float64(after.HeapAlloc-before.HeapAlloc) / n
	t.Logf("%.0f bytes per key", perKey)
	if perKey > 600 {
		t.Errorf("%.0f bytes per key, want at most 600", perKey)
	}
	runtime.KeepAlive(fetchers)
}

// TestRefreshesSpreadOverTheWindow: tokens fetched together refresh at
// moments spread over the refresh-ahead window, not within a minute.
func TestRefreshesSpreadOverTheWindow(t *testing.T) {
	m := &Manager{}
	now := time.Now()
	tok := Token{Value: "v", Expiry: now.Add(2 * time.Hour)}
	first, last := now.Add(time.Hour*3), now
	for range 1000 {
		e := m.newEntry(tok, now)
		at := time.Unix(0, e.refreshAt)
		first, last = minTime(first, at), maxTime(last, at)
	}
	if spread := last.Sub(first); spread < 4*time.Minute {
		t.Errorf("1000 keys fetched together refresh within %v of each other, want the 10-minute window's first half", spread)
	}
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// TestKeysInSteadyUseAreKept: a key whose callers are all served from
// memory keeps its state across its tokens' expiries, refresh-ahead off:
// callers served from memory leave no trace, and must not look idle.
func TestKeysInSteadyUseAreKept(t *testing.T) {
	m := &Manager{RefreshAhead: -1, forgetAfter: 50 * time.Millisecond}
	f := FetcherFunc("steady", func(context.Context) (Token, error) {
		return Token{Value: "tok", Expiry: time.Now().Add(300 * time.Millisecond)}, nil
	})
	ctx := context.Background()
	if _, err := m.Token(ctx, f); err != nil {
		t.Fatal(err)
	}
	first := m.state(f)
	for deadline := time.Now().Add(time.Second); time.Now().Before(deadline); {
		if _, err := m.Token(ctx, f); err != nil {
			t.Fatal(err)
		}
		if ks := m.state(f); ks != first {
			t.Fatal("a key in steady use was forgotten at its token's expiry")
		}
	}
}
