package dingtoken

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bradfitz/gomemcache/memcache"
	"github.com/dingtoken/dingtoken/internal/memcachedtest"
)

// TestSealedInMemcached: what memcached holds is useless without the app's
// secret, and another process with the secret opens it.
func TestSealedInMemcached(t *testing.T) {
	srv := newSim(t)
	mc := memcachedtest.Start(t)
	client := patientMemcache(mc.Addr)
	f := appCreds(srv)
	first := &Manager{Store: NewMemcacheStore(client)}
	tok, err := first.Token(context.Background(), f)
	if err != nil {
		t.Fatal(err)
	}
	settle(first) // the token is saved in the background
	item, err := client.Get(memcacheKey(f.Key()))
	if err != nil {
		t.Fatal(err)
	}
	raw := string(item.Value)
	if strings.Contains(raw, tok.Value) || !strings.Contains(raw, ";"+sealedPrefix) {
		t.Errorf("memcached holds %q: want a sealed value without the token", raw)
	}
	second := &Manager{Store: NewMemcacheStore(patientMemcache(mc.Addr))}
	got, err := second.Token(context.Background(), appCreds(srv))
	if err != nil || got.Value != tok.Value || second.Stats().L2Hits != 1 {
		t.Errorf("a second process got %v, %v (stats %+v); want the same token from memcached", got, err, second.Stats())
	}
}

func TestPlaintextStoreForOtherLanguages(t *testing.T) {
	srv := newSim(t)
	store := NewMemoryStore()
	m := &Manager{Store: store, StorePlaintext: true}
	tok, err := m.Token(context.Background(), appCreds(srv))
	if err != nil {
		t.Fatal(err)
	}
	settle(m)
	if got, _ := store.Load(context.Background(), appCreds(srv).Key()); got.Value != tok.Value {
		t.Errorf("StorePlaintext stored %q, want the token itself", got.Value)
	}
}

// TestPlaintextValueThatIsNoTokenIsAMiss: a plaintext value with bytes a
// token never has (another program's bug, a line end) is not handed out,
// where a header would refuse it on every request until it expired: each
// look that meets it counts a store error, and a fetched token replaces it.
func TestPlaintextValueThatIsNoTokenIsAMiss(t *testing.T) {
	srv := newSim(t)
	for _, bad := range []string{"tok\r\nX-Injected: 1", "tok\x00", "tok with spaces"} {
		store := NewMemoryStore()
		ctx := context.Background()
		if err := store.Save(ctx, appCreds(srv).Key(), Token{Value: bad, Expiry: time.Now().Add(time.Hour)}); err != nil {
			t.Fatal(err)
		}
		m := &Manager{Store: store, StorePlaintext: true}
		tok, err := m.Token(ctx, appCreds(srv))
		if err != nil || tok.Value != srv.CurrentToken(testClientID) {
			t.Errorf("over %q: %q, %v; want the fetched token", bad, tok.Value, err)
		}
		settle(m)
		// Two looks meet it: the load beside the lock, and the lock
		// holder's second look (MemoryStore is a Locker).
		if st := m.Stats(); st.StoreErrors != 2 || st.L2Hits != 0 {
			t.Errorf("over %q: stats %+v; want two store errors and no L2 hit", bad, st)
		}
		if got, _ := store.Load(ctx, appCreds(srv).Key()); got.Value != tok.Value {
			t.Errorf("over %q: the Store holds %q; want the fetched token", bad, got.Value)
		}
	}
}

func TestSealedValueOpensOnlyForItsApp(t *testing.T) {
	expiry := time.Now().Add(time.Hour)
	a, _ := newSealer("secret-of-app-a", "app:a")
	sealed := a.seal(Token{Value: "tok-of-a", Expiry: expiry})
	if got, err := a.open(sealed); err != nil || got.Value != "tok-of-a" {
		t.Fatalf("open by its own app: %v, %v", got, err)
	}
	others := map[string]*sealer{}
	others["another app"], _ = newSealer("secret-of-app-b", "app:b")
	others["same key, another secret"], _ = newSealer("rotated-secret", "app:a")
	others["same secret, another key"], _ = newSealer("secret-of-app-a", "corp:s:c")
	for name, s := range others {
		if got, err := s.open(sealed); err == nil {
			t.Errorf("%s opened a value sealed for app a: %v", name, got)
		}
	}
}

func TestTamperedSealedValuesAreMisses(t *testing.T) {
	s, _ := newSealer("secret", "app:x")
	good := s.seal(Token{Value: "tok-x", Expiry: time.Now().Add(time.Hour)})
	flip := func(v string, i int) string {
		b := []byte(v)
		b[i] ^= 1
		return string(b)
	}
	for name, tampered := range map[string]Token{
		"ciphertext byte": {Value: flip(good.Value, len(good.Value)-5), Expiry: good.Expiry},
		"nonce byte":      {Value: flip(good.Value, len(sealedPrefix)+2), Expiry: good.Expiry},
		"later expiry":    {Value: good.Value, Expiry: good.Expiry.Add(time.Hour)},
		"truncated":       {Value: good.Value[:len(good.Value)-3], Expiry: good.Expiry},
		"not sealed":      {Value: "tok-x", Expiry: good.Expiry},
		"prefix only":     {Value: sealedPrefix, Expiry: good.Expiry},
		"not base64":      {Value: sealedPrefix + "!!!!", Expiry: good.Expiry},
		"another version": {Value: "dts2." + strings.TrimPrefix(good.Value, sealedPrefix), Expiry: good.Expiry},
	} {
		if got, err := s.open(tampered); err == nil {
			t.Errorf("%s: opened as %v", name, got)
		}
	}

	// Through a Manager: a tampered value in the Store is a miss, logged and
	// counted, and the token is fetched.
	srv := newSim(t)
	store := NewMemoryStore()
	f := appCreds(srv)
	first := &Manager{Store: store}
	if _, err := first.Token(context.Background(), f); err != nil {
		t.Fatal(err)
	}
	settle(first)
	stored, _ := store.Load(context.Background(), f.Key())
	store.Save(context.Background(), f.Key(), Token{Value: flip(stored.Value, 10), Expiry: stored.Expiry})
	logger, logs := newLogger()
	m := &Manager{Store: store, Logger: logger}
	if _, err := m.Token(context.Background(), f); err != nil {
		t.Fatal(err)
	}
	if st := m.Stats(); st.L2Hits != 0 || st.Fetches != 1 || st.StoreErrors == 0 || !strings.Contains(logs.String(), "does not open") {
		t.Errorf("stats %+v; want the tampered value counted as a store error and the token fetched", st)
	}
}

// TestSealedAndPlaintextReplicasShareOneMemcached: a sealing replica, a
// StorePlaintext replica and a replica whose fetcher has no secret (also
// StorePlaintext, without which it never reaches the Store) share one
// memcached. Nobody hands out a sealed value as a token, and nobody
// overwrites what another can use.
func TestSealedAndPlaintextReplicasShareOneMemcached(t *testing.T) {
	srv := newSim(t)
	mc := memcachedtest.Start(t)
	client := patientMemcache(mc.Addr)
	sealing := &Manager{Store: NewMemcacheStore(patientMemcache(mc.Addr))}
	tok, err := sealing.Token(context.Background(), appCreds(srv))
	if err != nil {
		t.Fatal(err)
	}
	settle(sealing)
	sealedItem, _ := client.Get(memcacheKey(appCreds(srv).Key()))

	plaintext := &Manager{Store: NewMemcacheStore(patientMemcache(mc.Addr)), StorePlaintext: true}
	got, err := plaintext.Token(context.Background(), appCreds(srv))
	if err != nil || got.Value != tok.Value {
		t.Errorf("the plaintext replica got %v, %v; want the token, opened with its secret", got, err)
	}
	// Without StorePlaintext a fetcher with no secret never reaches the
	// Store; with it, it meets the sealed value it cannot open.
	noSecret := &Manager{Store: NewMemcacheStore(patientMemcache(mc.Addr)), StorePlaintext: true}
	foreign := FetcherFunc(appCreds(srv).Key(), func(ctx context.Context) (Token, error) {
		return Token{Value: "token-from-elsewhere", Expiry: time.Now().Add(time.Hour)}, nil
	})
	if got, err := noSecret.Token(context.Background(), foreign); err != nil || strings.HasPrefix(got.Value, sealedPrefix) {
		t.Errorf("a replica without the secret got %v, %v; never a sealed value", got, err)
	}
	settle(plaintext)
	settle(noSecret)
	if item, _ := client.Get(memcacheKey(appCreds(srv).Key())); item == nil || string(item.Value) != string(sealedItem.Value) {
		t.Errorf("memcached changed from %q to %v; the replicas that read the token had no reason to write", sealedItem.Value, item)
	}
	if got := srv.Fetches(testClientID); got != 1 {
		t.Errorf("fetches %d, want 1", got)
	}
}

// TestFetcherWithoutASecretStaysOutOfTheStore: the tokens of a fetcher
// with no secret to seal them with never reach the Store (unless
// StorePlaintext says so): each process fetches its own, the log says why
// once per key, and a sealed value another process saved under the key is
// left as it is.
func TestFetcherWithoutASecretStaysOutOfTheStore(t *testing.T) {
	srv := newSim(t)
	mc := memcachedtest.Start(t)
	client := patientMemcache(mc.Addr)
	ctx := context.Background()
	var calls atomic.Int32
	plain := FetcherFunc("app:no-secret", func(ctx context.Context) (Token, error) {
		return Token{Value: fmt.Sprintf("plain-%d", calls.Add(1)), Expiry: time.Now().Add(time.Hour)}, nil
	})
	logger, logs := newLogger()
	a := &Manager{Store: NewMemcacheStore(patientMemcache(mc.Addr)), Logger: logger}
	b := &Manager{Store: NewMemcacheStore(patientMemcache(mc.Addr))}
	first := tokenOf(t, a, plain)
	a.Invalidate(ctx, plain, first)
	tokenOf(t, a, plain)
	tokenOf(t, b, plain)
	settle(a)
	settle(b)
	if _, err := client.Get(memcacheKey(plain.Key())); !errors.Is(err, memcache.ErrCacheMiss) {
		t.Errorf("memcached under the key: %v; want nothing there", err)
	}
	if n := calls.Load(); n != 3 {
		t.Errorf("%d fetches, want 3: two in one process, one in the other, none shared", n)
	}
	if n := strings.Count(logs.String(), "no sealing secret"); n != 1 {
		t.Errorf("the log says %d times that the tokens stay out of the Store, want once:\n%s", n, logs)
	}

	// Under a key a sealing fetcher shares, its sealed value stays.
	sealing := &Manager{Store: NewMemcacheStore(patientMemcache(mc.Addr))}
	tokenOf(t, sealing, appCreds(srv))
	settle(sealing)
	before, err := client.Get(memcacheKey(appCreds(srv).Key()))
	if err != nil {
		t.Fatal(err)
	}
	foreign := FetcherFunc(appCreds(srv).Key(), plain.Fetch)
	got := tokenOf(t, a, foreign)
	if !strings.HasPrefix(got, "plain-") {
		t.Errorf("the fetcher without a secret got %q; want its own token", got)
	}
	a.Invalidate(ctx, foreign, got)
	tokenOf(t, a, foreign)
	settle(a)
	if after, err := client.Get(memcacheKey(appCreds(srv).Key())); err != nil || string(after.Value) != string(before.Value) {
		t.Errorf("the sealed value became %v, %v; want it left as it was", after, err)
	}
}

// TestRejectedTokenLeavesTheStore: a process that adopted another's sealed
// token, and one that fetched it, each remove it from the Store when DingTalk
// rejects it, by sealing it again: sealing is deterministic, so no process
// keeps the stored value in memory.
func TestRejectedTokenLeavesTheStore(t *testing.T) {
	srv := newSim(t)
	store := NewMemoryStore()
	ctx := context.Background()
	for _, adopted := range []bool{false, true} {
		fetcher := &Manager{Store: store}
		tok, err := fetcher.Token(ctx, appCreds(srv))
		if err != nil {
			t.Fatal(err)
		}
		settle(fetcher)
		m := fetcher
		if adopted {
			m = &Manager{Store: store}
			if got, err := m.Token(ctx, appCreds(srv)); err != nil || got.Value != tok.Value || m.Stats().L2Hits != 1 {
				t.Fatalf("the second process got %v, %v, %+v; want the stored token", got, err, m.Stats())
			}
		}
		m.Invalidate(ctx, appCreds(srv), tok.Value)
		settle(m)
		if got, err := store.Load(ctx, appCreds(srv).Key()); !errors.Is(err, ErrNotFound) {
			t.Errorf("adopted=%v: after the rejection the Store still holds %v, %v", adopted, got, err)
		}
		srv.Revoke(tok.Value) // the next round gets a new token
	}
}

func TestSealingIsDeterministic(t *testing.T) {
	s, _ := newSealer("secret", "app:x")
	expiry := time.Now().Add(time.Hour)
	a, b := s.seal(Token{Value: "tok-a", Expiry: expiry}), s.seal(Token{Value: "tok-a", Expiry: expiry})
	if a != b {
		t.Errorf("the same token sealed twice: %q and %q", a.Value, b.Value)
	}
	for _, other := range []Token{{Value: "tok-b", Expiry: expiry}, {Value: "tok-a", Expiry: expiry.Add(time.Second)}} {
		if c := s.seal(other); c.Value == a.Value || c.Value[:len(sealedPrefix)+16] == a.Value[:len(sealedPrefix)+16] {
			t.Errorf("%v sealed to %q, sharing a nonce with %q", other, c.Value, a.Value)
		}
	}
}
