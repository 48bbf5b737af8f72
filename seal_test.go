package dingtoken

import (
	"context"
	"strings"
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
	client := memcache.New(mc.Addr)
	f := appCreds(srv)
	first := &Manager{Store: NewMemcacheStore(client)}
	tok, err := first.Token(context.Background(), f)
	if err != nil {
		t.Fatal(err)
	}
	first.bg.Wait() // the token is saved in the background
	item, err := client.Get(memcacheKey(f.Key()))
	if err != nil {
		t.Fatal(err)
	}
	raw := string(item.Value)
	if strings.Contains(raw, tok.Value) || !strings.Contains(raw, ";"+sealedPrefix) {
		t.Errorf("memcached holds %q: want a sealed value without the token", raw)
	}
	second := &Manager{Store: NewMemcacheStore(memcache.New(mc.Addr))}
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
	m.bg.Wait()
	if got, _ := store.Load(context.Background(), appCreds(srv).Key()); got.Value != tok.Value {
		t.Errorf("StorePlaintext stored %q, want the token itself", got.Value)
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
	first.bg.Wait()
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
