package dingtoken

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bradfitz/gomemcache/memcache"
	"github.com/dingtoken/dingtoken/internal/memcachedtest"
)

// Environment of a child process started by TestMemcacheProcessesShareOneFetch.
const (
	childEnv          = "DINGTOKEN_TEST_CHILD"
	childSimEnv       = "DINGTOKEN_TEST_SIM_URL"
	childMemcachedEnv = "DINGTOKEN_TEST_MEMCACHED"
)

// TestMemcacheProcessesShareOneFetch starts 8 processes (this test binary,
// re-executed) cold against one memcached: one token fetch in all.
func TestMemcacheProcessesShareOneFetch(t *testing.T) {
	if os.Getenv(childEnv) != "" {
		t.Skip("running as a child")
	}
	srv := newSim(t)
	srv.SetTokenDelay(200 * time.Millisecond) // a realistic DingTalk, so the processes overlap
	mc := memcachedtest.Start(t)

	var wg sync.WaitGroup
	out := make([]string, 8)
	errs := make([]error, 8)
	start := make(chan struct{})
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cmd := exec.Command(os.Args[0], "-test.run=^TestMemcacheChildProcess$", "-test.count=1")
			cmd.Env = append(os.Environ(), childEnv+"=1", childSimEnv+"="+srv.URL, childMemcachedEnv+"="+mc.Addr)
			<-start
			b, err := cmd.CombinedOutput()
			out[i], errs[i] = string(b), err
		}()
	}
	close(start)
	wg.Wait()
	var first string
	for i := range 8 {
		if errs[i] != nil {
			t.Fatalf("child %d: %v\n%s", i, errs[i], out[i])
		}
		tok := childToken(out[i])
		if first == "" {
			first = tok
		}
		if tok == "" || tok != first {
			t.Errorf("child %d got token %q, child 0 %q", i, tok, first)
		}
	}
	if got := srv.Fetches(testClientID); got != 1 {
		for i := range out {
			t.Logf("child %d: %s", i, out[i])
		}
		t.Errorf("8 processes fetched %d times, want 1", got)
	}
}

// TestMemcacheChildProcess is the body of each child process.
func TestMemcacheChildProcess(t *testing.T) {
	if os.Getenv(childEnv) == "" {
		t.Skip("only run as a child of TestMemcacheProcessesShareOneFetch")
	}
	m := &Manager{Store: NewMemcacheStore(patientMemcache(os.Getenv(childMemcachedEnv)))}
	f := &AppCredentials{ClientID: testClientID, ClientSecret: testSecret, Endpoint: os.Getenv(childSimEnv)}
	tok, err := m.Token(context.Background(), f)
	if err != nil {
		t.Fatal(err)
	}
	m.Flush(context.Background()) // as a process about to exit should
	// A test token from our own simulator; printed so the parent can compare.
	fmt.Printf("child-token=%s\nchild-stats=%+v\n", tok.Value, m.Stats())
}

// patientMemcache returns a client with a timeout of 500 ms instead of the
// default 100 ms, for tests that count fetches across replicas or need a
// call to succeed: a CI machine under load can take 100 ms to answer, and a
// timed-out lock is a fetch.
func patientMemcache(addrs ...string) *memcache.Client {
	c := memcache.New(addrs...)
	c.Timeout = 500 * time.Millisecond
	return c
}

func childToken(out string) string {
	for _, line := range strings.Split(out, "\n") {
		if v, ok := strings.CutPrefix(line, "child-token="); ok {
			return v
		}
	}
	return ""
}

// TestMemcacheManagersSeeRejectionTogether: four managers, as four replicas,
// hold the same token; DingTalk revokes it; all of them send requests at once.
func TestMemcacheManagersSeeRejectionTogether(t *testing.T) {
	srv := newSim(t)
	mc := memcachedtest.Start(t)
	clients := make([]*http.Client, 4)
	managers := make([]*Manager, 4)
	for i := range clients {
		managers[i] = &Manager{Store: NewMemcacheStore(patientMemcache(mc.Addr))}
		clients[i] = newTestClient(srv, managers[i])
		if err := apiCall(clients[i], i); err != nil {
			t.Fatal(err)
		}
	}
	if got := srv.Fetches(testClientID); got != 1 {
		t.Fatalf("warm-up fetched %d times, want 1", got)
	}
	srv.RevokeAll()
	srv.SetTokenDelay(100 * time.Millisecond)
	errs := run(200, func(i int) error { return apiCall(clients[i%4], i) })
	if err := firstError(errs); err != nil {
		t.Fatal(err)
	}
	if got := srv.Fetches(testClientID); got != 2 {
		for i, m := range managers {
			t.Logf("replica %d: %+v", i, m.Stats())
		}
		t.Errorf("after the rejection: %d fetches in all, want 2 (warm-up and one refresh)", got)
	}
}

// apiCall sends one request, alternating API generations, and fails unless
// DingTalk answered with success.
func apiCall(c *http.Client, i int) error {
	u := "https://api.dingtalk.com/v1.0/contact/users/me"
	if i%2 == 1 {
		u = "https://oapi.dingtalk.com/topapi/v2/user/get"
	}
	resp, err := c.Get(u)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode != 200 || parseAPIError(resp.StatusCode, body) != nil {
		return fmt.Errorf("request %d: HTTP %d %s", i, resp.StatusCode, body)
	}
	return nil
}

// TestMemcacheKilledAndRestarted: requests keep succeeding while memcached
// dies, while DingTalk revokes the token during the outage, and after
// memcached comes back empty.
func TestMemcacheKilledAndRestarted(t *testing.T) {
	srv := newSim(t)
	mc := memcachedtest.StartOwn(t)
	m := &Manager{Store: NewMemcacheStore(memcache.New(mc.Addr))}
	c := newTestClient(srv, m)
	burst := func(stage string) {
		t.Helper()
		if err := firstError(run(50, func(i int) error { return apiCall(c, i) })); err != nil {
			t.Fatalf("%s: %v", stage, err)
		}
	}
	burst("memcached up")
	mc.Stop()
	burst("memcached down")
	srv.RevokeAll()
	burst("memcached down, token revoked")
	mc.Restart()
	srv.RevokeAll()
	burst("memcached restarted empty, token revoked")
	if m.Stats().StoreErrors == 0 {
		t.Error("the outage left no StoreErrors")
	}
}

func TestMemcacheClosedPortCostsLittle(t *testing.T) {
	srv := newSim(t)
	m := &Manager{Store: NewMemcacheStore(memcache.New(memcachedtest.ClosedAddr(t)))}
	c := newTestClient(srv, m)
	start := time.Now()
	for i := range 100 {
		if err := apiCall(c, i); err != nil {
			t.Fatal(err)
		}
		if i%25 == 24 { // every revocation sends the manager through the dead store again
			srv.RevokeAll()
		}
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("100 requests took %v with memcached unreachable, want under 5 s", d)
	}
	if m.Stats().StoreErrors == 0 {
		t.Error("no StoreErrors counted")
	}
}

func TestMemcacheCorruptValueIsAMiss(t *testing.T) {
	srv := newSim(t)
	mc := memcachedtest.Start(t)
	client := patientMemcache(mc.Addr)
	f := appCreds(srv)
	for _, garbage := range []string{"", "dt1;", "dt1;notanumber;tok", "dt1;123", "dt9;1;tok", "\x00\xff\xfe", "dt1;99999999999999;tok en"} {
		if err := client.Set(&memcache.Item{Key: memcacheKey(f.Key()), Value: []byte(garbage)}); err != nil {
			t.Fatal(err)
		}
		logger, logs := newLogger()
		m := &Manager{Store: NewMemcacheStore(client), Logger: logger}
		tok, err := m.Token(context.Background(), f)
		if err != nil || tok.Value != srv.CurrentToken(testClientID) {
			t.Errorf("value %q: got %v, %v; want a fetched token", garbage, tok, err)
		}
		settle(m) // before the next value goes in
		// One look meets the value, and puts the refresh lock in its place.
		if st := m.Stats(); st.L2Hits != 0 || st.StoreErrors != 1 || !strings.Contains(logs.String(), "does not decode") {
			t.Errorf("value %q: stats %+v; want one logged store error and no L2 hit", garbage, st)
		}
		stored, err := m.Store.Load(context.Background(), f.Key())
		if err == nil {
			stored, err = m.codecFor(m.state(f), f).decode(stored)
		}
		if err != nil || stored.Value != tok.Value {
			t.Errorf("value %q: the Store then holds %v, %v; want the fetched token in its place", garbage, stored, err)
		}
	}
}

// TestMemcacheLoadedTokenKeepsStoredExpiry: a second process knows exactly
// when the first process's token expires.
func TestMemcacheLoadedTokenKeepsStoredExpiry(t *testing.T) {
	srv := newSim(t)
	srv.SetTokenTTL(50 * time.Minute)
	mc := memcachedtest.Start(t)
	first := &Manager{Store: NewMemcacheStore(patientMemcache(mc.Addr))}
	tok, err := first.Token(context.Background(), appCreds(srv))
	if err != nil {
		t.Fatal(err)
	}
	settle(first)
	second := &Manager{Store: NewMemcacheStore(patientMemcache(mc.Addr))}
	got, err := second.Token(context.Background(), appCreds(srv))
	if err != nil {
		t.Fatal(err)
	}
	if got.Value != tok.Value || !got.Expiry.Equal(tok.Expiry.Truncate(time.Millisecond)) {
		t.Errorf("second process: %v, want %v (stored expiry, to the millisecond)", got, tok)
	}
	if st := second.Stats(); st.L2Hits != 1 || st.Fetches != 0 {
		t.Errorf("second process stats %+v, want an L2 hit and no fetch", st)
	}
}

func TestMemcacheKeyAndExpiration(t *testing.T) {
	if got := memcacheKey("app:ding1"); got != "dingtoken:v1:app:ding1" {
		t.Errorf("memcacheKey = %q", got)
	}
	for _, k := range []string{strings.Repeat("x", 240), "a b", "a\tb"} {
		got := memcacheKey(k)
		if len(got) > 250 || strings.ContainsAny(got, " \t") || !strings.HasPrefix(got, memcacheKeyPrefix) {
			t.Errorf("memcacheKey(%q) = %q, not a legal key", k, got)
		}
	}
	if exp, ok := memcacheExpiration(time.Now().Add(90 * 24 * time.Hour)); !ok || exp != int32(maxMemcacheExpiration/time.Second) {
		t.Errorf("expiration of a 90-day token = %d, want capped at 30 days", exp)
	}
	if exp, ok := memcacheExpiration(time.Now().Add(1500 * time.Millisecond)); !ok || exp != 3 {
		t.Errorf("expiration of a 1.5 s token = %d, want 3 (rounded up, and a second for memcached's clock)", exp)
	}
	if _, ok := memcacheExpiration(time.Now().Add(-time.Second)); ok {
		t.Error("an expired token got an expiration")
	}
}

func TestMemcacheRespectsContext(t *testing.T) {
	s := NewMemcacheStore(memcache.New(memcachedtest.Start(t).Addr))
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := s.Load(ctx, "app:x"); !errors.Is(err, context.Canceled) {
		t.Errorf("Load with a cancelled context: err = %v", err)
	}
}
