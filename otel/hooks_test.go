package dingtokenotel

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/dingtoken/dingtoken"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
)

// failingStore fails every call.
type failingStore struct{}

var errStoreDown = errors.New("store is down")

func (failingStore) Load(context.Context, string) (dingtoken.Token, error) {
	return dingtoken.Token{}, errStoreDown
}
func (failingStore) Save(context.Context, string, dingtoken.Token) error { return errStoreDown }
func (failingStore) Delete(context.Context, string, string) error        { return errStoreDown }

// TestHooksRecordMetrics runs every event through NewHooks, on Managers
// that share a Store and a slow DingTalk (a lock wait, a Store hit), a
// revoked token, a failing Store, a wrong secret and a refresh ahead of
// expiry, and checks each metric against the Managers' Stats and the
// simulator's count of token requests.
func TestHooksRecordMetrics(t *testing.T) {
	srv := newSim(t)
	srv.SetTokenDelay(200 * time.Millisecond)
	tel := newTelemetry(t)
	hooks, err := NewHooks(tel.mp)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	creds := func() dingtoken.Fetcher {
		return &dingtoken.LegacyAppCredentials{AppKey: testClientID, AppSecret: testSecret, HTTPClient: srv.Client()}
	}
	key := attrKey.String("app:" + testClientID)

	// Two Managers on one Store: the second waits for the first's fetch.
	store := dingtoken.NewMemoryStore()
	started := make(chan struct{}, 1)
	first := &dingtoken.Manager{Store: store, Hooks: dingtoken.JoinHooks(hooks, &dingtoken.Hooks{
		FetchStart: func(dingtoken.FetchStartInfo) {
			select {
			case started <- struct{}{}:
			default:
			}
		},
	})}
	second := &dingtoken.Manager{Store: store, Hooks: hooks}
	done := make(chan error, 1)
	go func() {
		_, err := first.Token(ctx, creds())
		done <- err
	}()
	<-started
	if _, err := second.Token(ctx, creds()); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	// A revoked token, through the Transport.
	client := &http.Client{Transport: &dingtoken.Transport{Fetcher: creds(), Manager: first, Base: srv.Transport()}}
	for i := range 5 {
		if i == 2 {
			srv.RevokeAll()
		}
		if status, err := get(ctx, client, legacyAPIURL); err != nil || status != 200 {
			t.Fatalf("request %d: %d, %v", i, status, err)
		}
	}
	// A Store that fails every call.
	broken := &dingtoken.Manager{Store: failingStore{}, Hooks: hooks}
	if _, err := broken.Token(ctx, creds()); err != nil {
		t.Fatal(err)
	}
	// A wrong secret.
	wrong := &dingtoken.Manager{Hooks: hooks}
	if _, err := wrong.Token(ctx, &dingtoken.AppCredentials{ClientID: testClientID, ClientSecret: "wrong", HTTPClient: srv.Client()}); err == nil {
		t.Fatal("a wrong secret: no error")
	}
	// A token refreshed ahead of its expiry.
	var n atomic.Int32
	ahead := dingtoken.FetcherFunc("ahead", func(context.Context) (dingtoken.Token, error) {
		return dingtoken.Token{Value: fmt.Sprintf("ahead-%d", n.Add(1)), Expiry: time.Now().Add(4 * time.Second)}, nil
	})
	early := &dingtoken.Manager{Hooks: hooks, RefreshAhead: time.Hour}
	deadline := time.Now().Add(20 * time.Second)
	for early.Stats().BackgroundRefreshes == 0 || n.Load() < 2 {
		if time.Now().After(deadline) {
			t.Fatal("no background refresh in 20 s")
		}
		if _, err := early.Token(ctx, ahead); err != nil {
			t.Fatal(err)
		}
		time.Sleep(10 * time.Millisecond) // the refresh-ahead window opens with the passage of time
	}
	for _, m := range []*dingtoken.Manager{first, second, broken, early} {
		m.Flush(ctx)
	}

	rm := tel.metrics(t)
	stats := []dingtoken.Stats{first.Stats(), second.Stats(), broken.Stats(), wrong.Stats(), early.Stats()}
	total := func(field func(dingtoken.Stats) uint64) int64 {
		var n uint64
		for _, s := range stats {
			n += field(s)
		}
		return int64(n)
	}
	tests := []struct {
		name string
		got  int64
		want int64
	}{
		{"fetches of the app", sum(t, rm, "dingtoken.fetches", key), int64(srv.Fetches(testClientID))},
		{"fetches", sum(t, rm, "dingtoken.fetches"), total(func(s dingtoken.Stats) uint64 { return s.Fetches })},
		{"fetch durations", int64(count(t, rm, "dingtoken.fetch.duration")), total(func(s dingtoken.Stats) uint64 { return s.Fetches })},
		{"fetch errors", sum(t, rm, "dingtoken.fetch.errors"), total(func(s dingtoken.Stats) uint64 { return s.FetchErrors })},
		{"fetch errors of a wrong secret", sum(t, rm, "dingtoken.fetch.errors", key,
			attrErrorType.String(string(dingtoken.ErrClassInvalidCredentials)), attrCode.String("invalidClientIdOrSecret")), 1},
		{"failed fetch durations", int64(count(t, rm, "dingtoken.fetch.duration", attrErrorType.String(string(dingtoken.ErrClassInvalidCredentials)))), 1},
		{"served from memory", sum(t, rm, "dingtoken.token.served", attrSource.String("memory")), total(func(s dingtoken.Stats) uint64 { return s.L1Hits })},
		{"served from the Store", sum(t, rm, "dingtoken.token.served", key, attrSource.String("store")), total(func(s dingtoken.Stats) uint64 { return s.L2Hits })},
		{"lock waits", int64(count(t, rm, "dingtoken.lock.wait.duration", key, attrOutcome.String("token"))), total(func(s dingtoken.Stats) uint64 { return s.LockWaits })},
		{"rejections", sum(t, rm, "dingtoken.rejections", key, attrAPI.String("legacy"), attrStatus.Int(200), attrCode.String("40014"), attrDropped.Bool(true)), 1},
		{"retries", sum(t, rm, "dingtoken.retries", key), total(func(s dingtoken.Stats) uint64 { return s.Retries })},
		{"store errors", sum(t, rm, "dingtoken.store.errors", key), total(func(s dingtoken.Stats) uint64 { return s.StoreErrors })},
		{"store load errors", sum(t, rm, "dingtoken.store.errors", key, attrOperation.String("load"), attrTimeout.Bool(false)), 1},
		{"background refreshes", sum(t, rm, "dingtoken.background_refreshes", attrKey.String("ahead")), total(func(s dingtoken.Stats) uint64 { return s.BackgroundRefreshes })},
		{"background fetches", sum(t, rm, "dingtoken.fetches", attrKey.String("ahead"), attrBackground.Bool(true)), total(func(s dingtoken.Stats) uint64 { return s.BackgroundRefreshes })},
	}
	for _, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("%s: %d, want %d", tt.name, tt.got, tt.want)
		}
	}
	// Each figure above happened at least once.
	for _, name := range []string{"dingtoken.token.served", "dingtoken.fetches", "dingtoken.fetch.errors", "dingtoken.rejections",
		"dingtoken.retries", "dingtoken.store.errors", "dingtoken.background_refreshes"} {
		if sum(t, rm, name) == 0 {
			t.Errorf("%s is 0", name)
		}
	}
	if count(t, rm, "dingtoken.lock.wait.duration") == 0 {
		t.Error("no lock wait recorded")
	}
	if leaked := tel.leaks(t, append(srv.Tokens(), testSecret, "ahead-1", "ahead-2")); len(leaked) > 0 {
		t.Errorf("metrics hold %d secrets or tokens", len(leaked))
	}
}

// TestHooksWithoutSpan: events whose context carries no span, or no
// context at all, are recorded as metrics and cost nothing else.
func TestHooksWithoutSpan(t *testing.T) {
	tel := newTelemetry(t)
	hooks, err := NewHooks(tel.mp)
	if err != nil {
		t.Fatal(err)
	}
	hooks.TokenRejected(dingtoken.TokenRejectedInfo{Key: "k", API: "new", Status: 401, Code: "Unauthorized", Dropped: true})
	hooks.Retried(dingtoken.RetriedInfo{Context: context.Background(), Key: "k"})
	hooks.FetchStart(dingtoken.FetchStartInfo{Key: "k"})
	hooks.FetchDone(dingtoken.FetchDoneInfo{Key: "k", Duration: time.Millisecond})
	rm := tel.metrics(t)
	if got := sum(t, rm, "dingtoken.rejections", attrKey.String("k"), attrCode.String("Unauthorized")); got != 1 {
		t.Errorf("rejections = %d, want 1", got)
	}
	if got := sum(t, rm, "dingtoken.retries", attrKey.String("k")); got != 1 {
		t.Errorf("retries = %d, want 1", got)
	}
	if got := count(t, rm, "dingtoken.fetch.duration", attrKey.String("k")); got != 1 {
		t.Errorf("fetch durations = %d, want 1", got)
	}
	if len(tel.spans.Ended()) != 0 {
		t.Errorf("%d spans, want none", len(tel.spans.Ended()))
	}
}

// TestHooksGlobalMeterProvider: a nil MeterProvider is the global one.
func TestHooksGlobalMeterProvider(t *testing.T) {
	hooks, err := NewHooks(nil)
	if err != nil || hooks == nil || hooks.TokenServed == nil {
		t.Fatalf("NewHooks(nil) = %v, %v", hooks, err)
	}
	hooks.TokenServed(dingtoken.TokenServedInfo{Key: "k", Source: dingtoken.FromMemory}) // the global no-op provider
}

// TestServedKeysBounded: dingtoken.token.served counts maxServedKeys keys
// apart, and the tokens of further keys under "other", none lost.
func TestServedKeysBounded(t *testing.T) {
	tel := newTelemetry(t)
	hooks, err := NewHooks(tel.mp)
	if err != nil {
		t.Fatal(err)
	}
	const keys = 10000
	errs := make(chan error, 4)
	for w := range 4 { // concurrently, so that keys race for the last places
		go func() {
			for i := w; i < keys; i += 4 {
				hooks.TokenServed(dingtoken.TokenServedInfo{Key: fmt.Sprintf("key-%d", i), Source: dingtoken.FromMemory})
				hooks.TokenServed(dingtoken.TokenServedInfo{Key: fmt.Sprintf("key-%d", i), Source: dingtoken.FromStore})
			}
			errs <- nil
		}()
	}
	for range 4 {
		<-errs
	}
	rm := tel.metrics(t)
	d := findMetric(t, rm, "dingtoken.token.served").Data.(metricdata.Sum[int64])
	seen := map[string]bool{}
	var total int64
	for _, p := range d.DataPoints {
		v, _ := p.Attributes.Value(attrKey)
		seen[v.AsString()] = true
		total += p.Value
	}
	if len(seen) != maxServedKeys+1 || !seen[otherKey] {
		t.Errorf("%d keys, want %d and %q", len(seen), maxServedKeys, otherKey)
	}
	if total != 2*keys {
		t.Errorf("%d tokens served counted, want %d", total, 2*keys)
	}
	if got := sum(t, rm, "dingtoken.token.served", attrKey.String(otherKey), attrSource.String("store")); got != keys-maxServedKeys {
		t.Errorf("other: %d from the store, want %d", got, keys-maxServedKeys)
	}
}

// TestCacheHitWithHooksDoesNotAllocate: with NewHooks recording into the
// SDK, a token served from memory still allocates nothing.
func TestCacheHitWithHooksDoesNotAllocate(t *testing.T) {
	tel := newTelemetry(t)
	hooks, err := NewHooks(tel.mp)
	if err != nil {
		t.Fatal(err)
	}
	f := dingtoken.FetcherFunc("hit", func(context.Context) (dingtoken.Token, error) {
		return dingtoken.Token{Value: "hit-token", Expiry: time.Now().Add(time.Hour)}, nil
	})
	m := &dingtoken.Manager{Hooks: hooks}
	ctx := context.Background()
	if _, err := m.Token(ctx, f); err != nil {
		t.Fatal(err)
	}
	if allocs := testing.AllocsPerRun(1000, func() { m.Token(ctx, f) }); allocs != 0 {
		t.Errorf("a cache hit with the hooks allocates %v times, want 0", allocs)
	}
	if got := sum(t, tel.metrics(t), "dingtoken.token.served", attrKey.String("hit"), attrSource.String("memory")); got < 1000 {
		t.Errorf("served from memory = %d, want at least 1000", got)
	}
}

// TestHooksOfSeveralManagersAddUp: each Manager with hooks of its own on
// one MeterProvider; their tokens served add up.
func TestHooksOfSeveralManagersAddUp(t *testing.T) {
	tel := newTelemetry(t)
	f := dingtoken.FetcherFunc("shared", func(context.Context) (dingtoken.Token, error) {
		return dingtoken.Token{Value: "shared-token", Expiry: time.Now().Add(time.Hour)}, nil
	})
	ctx := context.Background()
	for i := range 3 {
		hooks, err := NewHooks(tel.mp)
		if err != nil {
			t.Fatal(err)
		}
		m := &dingtoken.Manager{Hooks: hooks}
		for range i + 2 { // a fetch, then i+1 hits
			if _, err := m.Token(ctx, f); err != nil {
				t.Fatal(err)
			}
		}
	}
	rm := tel.metrics(t)
	if got := sum(t, rm, "dingtoken.token.served", attrKey.String("shared"), attrSource.String("memory")); got != 1+2+3 {
		t.Errorf("served from memory = %d, want 6", got)
	}
	if got := sum(t, rm, "dingtoken.fetches", attrKey.String("shared")); got != 3 {
		t.Errorf("fetches = %d, want 3", got)
	}
}
