package dingtokenprometheus

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/dingtoken/dingtoken"
	"github.com/dingtoken/dingtoken/dingtalktest"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const (
	testClientID = "ding-prom-test-app"
	testSecret   = "app-secret-9r0m3e4f5a"
	unknownApp   = "ding-unknown-app"
)

// sealing gives a Fetcher a secret to seal its tokens with, so that they
// go through the Store.
type sealing struct{ dingtoken.Fetcher }

func (sealing) SealingSecret() string { return "short-lived-secret-5e" }

// switchStore is a MemoryStore that fails every call while failing is set.
type switchStore struct {
	*dingtoken.MemoryStore
	failing atomic.Bool
}

var errStoreDown = errors.New("store is down")

func (s *switchStore) Load(ctx context.Context, key string) (dingtoken.Token, error) {
	if s.failing.Load() {
		return dingtoken.Token{}, errStoreDown
	}
	return s.MemoryStore.Load(ctx, key)
}

func (s *switchStore) Save(ctx context.Context, key string, t dingtoken.Token) error {
	if s.failing.Load() {
		return errStoreDown
	}
	return s.MemoryStore.Save(ctx, key, t)
}

func (s *switchStore) Delete(ctx context.Context, key, stale string) error {
	if s.failing.Load() {
		return errStoreDown
	}
	return s.MemoryStore.Delete(ctx, key, stale)
}

func (s *switchStore) TryLock(ctx context.Context, key string, ttl time.Duration) (func(), bool, error) {
	if s.failing.Load() {
		return nil, false, errStoreDown
	}
	return s.MemoryStore.TryLock(ctx, key, ttl)
}

// script runs a Manager, watched by a Collector, through every event
// against the simulator: a lock wait and a token from the Store (another
// Manager fetching on a slow DingTalk), requests of both API generations
// across revocations, a wrong secret, a failing Store, a refresh ahead of
// expiry.
func script(t *testing.T) (*dingtoken.Manager, *Collector, *dingtalktest.Server) {
	t.Helper()
	srv := dingtalktest.NewServer()
	t.Cleanup(srv.Close)
	srv.AddApp(testClientID, testSecret)
	ctx := context.Background()
	creds := func() dingtoken.Fetcher {
		return &dingtoken.LegacyAppCredentials{AppKey: testClientID, AppSecret: testSecret, HTTPClient: srv.Client()}
	}
	store := &switchStore{MemoryStore: dingtoken.NewMemoryStore()}
	started := make(chan struct{}, 1)
	other := &dingtoken.Manager{Store: store, Hooks: &dingtoken.Hooks{FetchStart: func(dingtoken.FetchStartInfo) {
		select {
		case started <- struct{}{}:
		default:
		}
	}}}
	m := &dingtoken.Manager{Store: store, RefreshAhead: time.Hour}
	c := NewCollector(m)
	m.Hooks = c.Hooks()

	srv.SetTokenDelay(200 * time.Millisecond)
	done := make(chan error, 1)
	go func() {
		_, err := other.Token(ctx, creds())
		done <- err
	}()
	<-started
	if _, err := m.Token(ctx, creds()); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	other.Flush(ctx) // its lock released: the refreshes below take it at once
	srv.SetTokenDelay(0)

	client := &http.Client{Transport: &dingtoken.Transport{Fetcher: creds(), Manager: m, Base: srv.Transport()}}
	for i, u := range []string{
		"https://oapi.dingtalk.com/topapi/v2/user/get", "https://api.dingtalk.com/v1.0/contact/users/me",
		"revoke", "https://oapi.dingtalk.com/topapi/v2/user/get", "https://api.dingtalk.com/v1.0/contact/users/me",
		"revoke", "https://api.dingtalk.com/v1.0/contact/users/me",
	} {
		if u == "revoke" {
			srv.RevokeAll()
			continue
		}
		resp, err := client.Get(u)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("request %d: HTTP %d", i, resp.StatusCode)
		}
	}
	if _, err := m.Token(ctx, &dingtoken.AppCredentials{ClientID: unknownApp, ClientSecret: "wrong", HTTPClient: srv.Client()}); err == nil {
		t.Fatal("a wrong secret: no error")
	}
	store.failing.Store(true)
	shortLived := sealing{dingtoken.FetcherFunc("short-lived", func(context.Context) (dingtoken.Token, error) {
		return dingtoken.Token{Value: fmt.Sprintf("short-%d", time.Now().UnixNano()), Expiry: time.Now().Add(4 * time.Second)}, nil
	})}
	deadline := time.Now().Add(20 * time.Second)
	for m.Stats().BackgroundRefreshes == 0 {
		if time.Now().After(deadline) {
			t.Fatal("no background refresh in 20 s")
		}
		if _, err := m.Token(ctx, shortLived); err != nil {
			t.Fatal(err)
		}
		time.Sleep(10 * time.Millisecond) // the refresh-ahead window opens with the passage of time
	}
	waitFor(t, func() bool { return m.Stats().Fetches == c.fetchesSeen() })
	other.Flush(ctx)
	m.Flush(ctx)
	return m, c, srv
}

// fetchesSeen is how many fetches the hooks have seen end.
func (c *Collector) fetchesSeen() uint64 {
	m := &dto.Metric{}
	c.fetchDuration.Write(m)
	return m.GetHistogram().GetSampleCount()
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not reached in 20 s")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// gather registers c in a pedantic registry and gathers it, which checks
// that what it collects is consistent with what it describes.
func gather(t *testing.T, c prometheus.Collector) map[string]*dto.MetricFamily {
	t.Helper()
	reg := prometheus.NewPedanticRegistry()
	if err := reg.Register(c); err != nil {
		t.Fatal(err)
	}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]*dto.MetricFamily{}
	for _, mf := range mfs {
		out[mf.GetName()] = mf
	}
	return out
}

// value sums the family's samples whose labels include every one of want
// (name, value pairs).
func value(t *testing.T, mfs map[string]*dto.MetricFamily, name string, want ...string) float64 {
	t.Helper()
	mf := mfs[name]
	if mf == nil {
		t.Fatalf("no metric %s", name)
	}
	var sum float64
	for _, m := range mf.GetMetric() {
		if hasLabels(m, want) {
			switch {
			case m.Counter != nil:
				sum += m.GetCounter().GetValue()
			case m.Gauge != nil:
				sum += m.GetGauge().GetValue()
			case m.Histogram != nil:
				sum += float64(m.GetHistogram().GetSampleCount())
			}
		}
	}
	return sum
}

func hasLabels(m *dto.Metric, want []string) bool {
	for i := 0; i+1 < len(want); i += 2 {
		found := false
		for _, lp := range m.GetLabel() {
			if lp.GetName() == want[i] && lp.GetValue() == want[i+1] {
				found = true
			}
		}
		if !found {
			return false
		}
	}
	return true
}

// TestScriptedRun: after one script, the Collector lints clean, gathers in
// a pedantic registry, and its values match the Manager's Stats.
func TestScriptedRun(t *testing.T) {
	m, c, srv := script(t)
	t.Run("lint and pedantic registry", func(t *testing.T) { lintAndGather(t, c) })
	t.Run("values match Stats", func(t *testing.T) { valuesMatchStats(t, m, c, srv) })
}

func lintAndGather(t *testing.T, c *Collector) {
	problems, err := testutil.CollectAndLint(c)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("lint: %s: %s", p.Metric, p.Text)
	}
	mfs := gather(t, c)
	for _, name := range []string{
		"dingtoken_l1_hits_total", "dingtoken_l2_hits_total", "dingtoken_fetches_total", "dingtoken_fetch_errors_total",
		"dingtoken_background_refreshes_total", "dingtoken_invalidations_total", "dingtoken_store_errors_total",
		"dingtoken_lock_waits_total", "dingtoken_retries_total", "dingtoken_damped_rejections_total", "dingtoken_keys",
		"dingtoken_key_tokens_served_total", "dingtoken_key_fetches_total", "dingtoken_key_fetch_errors_total",
		"dingtoken_key_rejections_total", "dingtoken_key_retries_total", "dingtoken_key_store_errors_total",
		"dingtoken_key_lock_waits_total", "dingtoken_key_background_refreshes_total",
		"dingtoken_fetch_duration_seconds", "dingtoken_lock_wait_duration_seconds",
	} {
		if mfs[name] == nil {
			t.Errorf("no metric %s", name)
		}
	}
}

// valuesMatchStats: each Stats counter is exported as it is, and the
// per-key figures add up to it.
func valuesMatchStats(t *testing.T, m *dingtoken.Manager, c *Collector, srv *dingtalktest.Server) {
	st := m.Stats()
	mfs := gather(t, c)
	app := "app:" + testClientID
	tests := []struct {
		name string
		got  float64
		want uint64
	}{
		{"l1 hits", value(t, mfs, "dingtoken_l1_hits_total"), st.L1Hits},
		{"l2 hits", value(t, mfs, "dingtoken_l2_hits_total"), st.L2Hits},
		{"fetches", value(t, mfs, "dingtoken_fetches_total"), st.Fetches},
		{"fetch errors", value(t, mfs, "dingtoken_fetch_errors_total"), st.FetchErrors},
		{"background refreshes", value(t, mfs, "dingtoken_background_refreshes_total"), st.BackgroundRefreshes},
		{"invalidations", value(t, mfs, "dingtoken_invalidations_total"), st.Invalidations},
		{"store errors", value(t, mfs, "dingtoken_store_errors_total"), st.StoreErrors},
		{"lock waits", value(t, mfs, "dingtoken_lock_waits_total"), st.LockWaits},
		{"retries", value(t, mfs, "dingtoken_retries_total"), st.Retries},
		{"damped rejections", value(t, mfs, "dingtoken_damped_rejections_total"), st.DampedRejections},
		{"keys", value(t, mfs, "dingtoken_keys"), st.Keys},

		{"served from memory, per key", value(t, mfs, "dingtoken_key_tokens_served_total", "source", "memory"), st.L1Hits},
		{"served from the Store, per key", value(t, mfs, "dingtoken_key_tokens_served_total", "key", app, "source", "store"), st.L2Hits},
		{"fetches, per key", value(t, mfs, "dingtoken_key_fetches_total"), st.Fetches},
		{"fetch errors, per key", value(t, mfs, "dingtoken_key_fetch_errors_total", "key", "app:"+unknownApp, "class", "invalid_credentials"), st.FetchErrors},
		{"retries, per key", value(t, mfs, "dingtoken_key_retries_total", "key", app), st.Retries},
		{"rejections, per key", value(t, mfs, "dingtoken_key_rejections_total", "key", app), st.Invalidations},
		{"store errors, per key", value(t, mfs, "dingtoken_key_store_errors_total"), st.StoreErrors},
		{"lock waits, per key", value(t, mfs, "dingtoken_key_lock_waits_total", "key", app, "outcome", "token"), st.LockWaits},
		{"background refreshes, per key", value(t, mfs, "dingtoken_key_background_refreshes_total", "key", "short-lived"), st.BackgroundRefreshes},
		{"fetch durations", value(t, mfs, "dingtoken_fetch_duration_seconds"), st.Fetches},
		{"lock-wait durations", value(t, mfs, "dingtoken_lock_wait_duration_seconds"), st.LockWaits},

		{"fetches of the app, per key", value(t, mfs, "dingtoken_key_fetches_total", "key", app), uint64(srv.Fetches(testClientID)) - 1}, // one fetch was the other Manager's
		{"legacy rejections", value(t, mfs, "dingtoken_key_rejections_total", "key", app, "api", "legacy", "code", "40014"), 1},
		{"new API rejections", value(t, mfs, "dingtoken_key_rejections_total", "key", app, "api", "new", "code", "InvalidAuthentication"), 1},
		// Each refresh of the short-lived key meets the failing Store once.
		{"store load errors", value(t, mfs, "dingtoken_key_store_errors_total", "key", "short-lived", "op", "load"),
			uint64(value(t, mfs, "dingtoken_key_fetches_total", "key", "short-lived"))},
	}
	for _, tt := range tests {
		if tt.got != float64(tt.want) {
			t.Errorf("%s: %v, want %d", tt.name, tt.got, tt.want)
		}
	}
	for _, name := range []string{"l1_hits", "l2_hits", "fetches", "fetch_errors", "background_refreshes", "invalidations", "store_errors", "lock_waits", "retries"} {
		if value(t, mfs, "dingtoken_"+name+"_total") == 0 {
			t.Errorf("the script did not exercise %s", name)
		}
	}
	var text strings.Builder
	for _, mf := range mfs {
		fmt.Fprintln(&text, mf.String())
	}
	for _, secret := range append(srv.Tokens(), testSecret) {
		if strings.Contains(text.String(), secret) {
			t.Errorf("the metrics hold a token or the secret")
		}
	}
}

// TestCardinalityBound: 10,000 keys, of which DefaultMaxKeys have a key
// label of their own and the rest are summed under "other"; nothing lost.
func TestCardinalityBound(t *testing.T) {
	tests := []struct {
		name    string
		maxKeys int
		want    int
	}{
		{"default", 0, DefaultMaxKeys},
		{"MaxKeys 7", 7, 7},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := &dingtoken.Manager{}
			c := NewCollector(m)
			c.MaxKeys = tt.maxKeys
			m.Hooks = c.Hooks()
			const keys = 10000
			ctx := context.Background()
			errs := make(chan error, 4)
			for w := range 4 { // concurrently, so that keys race for the last places
				go func() {
					for i := w; i < keys; i += 4 {
						f := dingtoken.FetcherFunc(fmt.Sprintf("corp:suite:%05d", i), func(context.Context) (dingtoken.Token, error) {
							return dingtoken.Token{Value: fmt.Sprintf("tok-%d", i), Expiry: time.Now().Add(time.Hour)}, nil
						})
						for range 2 { // a fetch, then a hit
							if _, err := m.Token(ctx, f); err != nil {
								errs <- err
								return
							}
						}
					}
					errs <- nil
				}()
			}
			for range 4 {
				if err := <-errs; err != nil {
					t.Fatal(err)
				}
			}
			mfs := gather(t, c)
			if problems, err := testutil.CollectAndLint(c); err != nil || len(problems) > 0 {
				t.Errorf("lint: %v, %v", problems, err)
			}
			for name, mf := range mfs {
				if !strings.HasPrefix(name, "dingtoken_key_") {
					continue
				}
				seen := map[string]bool{}
				for _, metric := range mf.GetMetric() {
					for _, lp := range metric.GetLabel() {
						if lp.GetName() == "key" {
							seen[lp.GetValue()] = true
						}
					}
				}
				if len(seen) > tt.want+1 {
					t.Errorf("%s has %d key values, want at most %d and %q", name, len(seen), tt.want, OtherKey)
				}
			}
			if got := value(t, mfs, "dingtoken_key_fetches_total"); got != keys {
				t.Errorf("fetches summed over keys: %v, want %d", got, keys)
			}
			if got, want := value(t, mfs, "dingtoken_key_fetches_total", "key", OtherKey), float64(keys-tt.want); got != want {
				t.Errorf("fetches of %q: %v, want %v", OtherKey, got, want)
			}
			if got := value(t, mfs, "dingtoken_key_tokens_served_total", "source", "memory"); got != keys {
				t.Errorf("tokens served summed over keys: %v, want %d", got, keys)
			}
			n := 0
			c.keys.Range(func(any, any) bool { n++; return true })
			if n != tt.want {
				t.Errorf("the Collector holds %d keys, want %d", n, tt.want)
			}
		})
	}
}

// TestKeyNotUTF8: a key with bytes that are not UTF-8 becomes a valid label
// value, rather than a panic in Collect.
func TestKeyNotUTF8(t *testing.T) {
	m := &dingtoken.Manager{}
	c := NewCollector(m)
	m.Hooks = c.Hooks()
	f := dingtoken.FetcherFunc("corp:\xff\xfe:x", func(context.Context) (dingtoken.Token, error) {
		return dingtoken.Token{Value: "tok", Expiry: time.Now().Add(time.Hour)}, nil
	})
	if _, err := m.Token(context.Background(), f); err != nil {
		t.Fatal(err)
	}
	mfs := gather(t, c)
	if got := value(t, mfs, "dingtoken_key_fetches_total", "key", "corp:\uFFFD:x"); got != 1 {
		t.Errorf("fetches of the key: %v, want 1", got)
	}
}

// TestCollectorWithoutHooks: a Collector whose hooks are not set exports
// the Stats counters, and no per-key figure.
func TestCollectorWithoutHooks(t *testing.T) {
	m := &dingtoken.Manager{}
	f := dingtoken.FetcherFunc("k", func(context.Context) (dingtoken.Token, error) {
		return dingtoken.Token{Value: "tok", Expiry: time.Now().Add(time.Hour)}, nil
	})
	for range 3 {
		m.Token(context.Background(), f)
	}
	c := NewCollector(m)
	mfs := gather(t, c)
	if got := value(t, mfs, "dingtoken_l1_hits_total"); got != 2 {
		t.Errorf("l1 hits: %v, want 2", got)
	}
	if mfs["dingtoken_key_fetches_total"] != nil {
		t.Error("per-key figures without hooks")
	}
}
