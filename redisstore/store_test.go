package redisstore

import (
	"context"
	"errors"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bradfitz/gomemcache/memcache"
	"github.com/dingtoken/dingtoken"
	"github.com/dingtoken/dingtoken/internal/memcachedtest"
	"github.com/dingtoken/dingtoken/internal/redistest"
)

// TestKeysValuesAndExpirations pins what other programs see in Redis: the
// key names, the value layout, and expirations that match the token's life.
func TestKeysValuesAndExpirations(t *testing.T) {
	srv := redistest.Start(t)
	ctx := context.Background()
	for _, tc := range []struct{ prefix, wantPrefix string }{
		{"", "dingtoken:v1:"},
		{"myapp:tokens:", "myapp:tokens:"},
	} {
		t.Run(tc.wantPrefix, func(t *testing.T) {
			s := newStore(t, newClient(t, srv.Addr), tc.prefix, 0)
			key := "app:" + strings.TrimSuffix(uniquePrefix(), ":")
			expiry := time.Now().Add(90 * time.Minute)
			if err := s.Save(ctx, key, dingtoken.Token{Value: "tok-layout", Expiry: expiry}); err != nil {
				t.Fatal(err)
			}
			got, err := srv.Do("GET", tc.wantPrefix+key)
			if want := "dt1;" + itoa(expiry.UnixMilli()) + ";tok-layout"; err != nil || got != want {
				t.Errorf("GET %s = %v, %v; want %q", tc.wantPrefix+key, got, err, want)
			}
			pttl, err := srv.Do("PTTL", tc.wantPrefix+key)
			if d := time.Duration(pttl.(int64)) * time.Millisecond; err != nil || d > 90*time.Minute || d < time.Until(expiry)-10*time.Second {
				t.Errorf("PTTL = %v ms, %v; want the token's remaining life, %v", pttl, err, time.Until(expiry))
			}

			unlock, ok, err := s.TryLock(ctx, key, 15*time.Second)
			if err != nil || !ok {
				t.Fatalf("TryLock = %v, %v", ok, err)
			}
			owner, err := srv.Do("GET", tc.wantPrefix+"lock:"+key)
			if o, _ := owner.(string); err != nil || len(o) != 32 {
				t.Errorf("lock value = %v, %v; want a 32-character owner id", owner, err)
			}
			if pttl, err := srv.Do("PTTL", tc.wantPrefix+"lock:"+key); err != nil || pttl.(int64) <= 0 || pttl.(int64) > 15000 {
				t.Errorf("lock PTTL = %v, %v; want up to 15000 ms", pttl, err)
			}
			unlock()
			if n, err := srv.Do("EXISTS", tc.wantPrefix+"lock:"+key); err != nil || n != int64(0) {
				t.Errorf("after unlock, EXISTS lock = %v, %v; want 0", n, err)
			}
		})
	}
}

// TestRedisExpiresTheToken: Redis itself drops a token when it expires, so
// expired tokens do not pile up.
func TestRedisExpiresTheToken(t *testing.T) {
	srv := redistest.Start(t)
	s := newStore(t, newClient(t, srv.Addr), uniquePrefix(), 0)
	if err := s.Save(context.Background(), "app:short", dingtoken.Token{Value: "tok-short", Expiry: time.Now().Add(300 * time.Millisecond)}); err != nil {
		t.Fatal(err)
	}
	key := s.tokenKey("app:short")
	if n, err := srv.Do("EXISTS", key); err != nil || n != int64(1) {
		t.Fatalf("EXISTS right after Save = %v, %v; want 1", n, err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		n, err := srv.Do("EXISTS", key)
		if err != nil {
			t.Fatal(err)
		}
		if n == int64(0) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("Redis still holds a token 10 s after its expiry")
		}
		time.Sleep(20 * time.Millisecond) // polling the clock, not synchronising
	}
}

// TestValueLayoutMatchesMemcache: a token written by MemcacheStore to a
// real memcached is byte for byte what this Store writes, so programs in
// other languages read both alike.
func TestValueLayoutMatchesMemcache(t *testing.T) {
	mc := memcache.New(memcachedtest.Start(t).Addr)
	defer mc.Close()
	ctx := context.Background()
	tok := dingtoken.Token{Value: "dts1.c2VhbGVk-_", Expiry: time.Now().Add(time.Hour)}
	if err := dingtoken.NewMemcacheStore(mc).Save(ctx, "app:layout", tok); err != nil {
		t.Fatal(err)
	}
	item, err := mc.Get("dingtoken:v1:app:layout")
	if err != nil {
		t.Fatal(err)
	}
	if got, want := encodeValue(tok), string(item.Value); got != want {
		t.Errorf("redisstore writes %q, MemcacheStore %q", got, want)
	}
	if got, err := decodeValue(string(item.Value)); err != nil || got.Value != tok.Value || !got.Expiry.Equal(tok.Expiry.Truncate(time.Millisecond)) {
		t.Errorf("MemcacheStore's value decodes to %v, %v; want %v", got, err, tok)
	}
}

// TestCorruptValueIsAMiss: whatever else sits under the key, the Manager
// counts an error, fetches and overwrites it.
func TestCorruptValueIsAMiss(t *testing.T) {
	srv := redistest.Start(t)
	sim := newSim(t)
	for _, tc := range []struct {
		name  string
		write []string // the command that spoils the key
	}{
		{"empty", []string{"SET", "", ""}},
		{"no expiry", []string{"SET", "", "dt1;"}},
		{"bad expiry", []string{"SET", "", "dt1;notanumber;tok"}},
		{"no token", []string{"SET", "", "dt1;123"}},
		{"other layout", []string{"SET", "", "dt9;1;tok"}},
		{"binary", []string{"SET", "", "\x00\xff\xfe"}},
		{"space in token", []string{"SET", "", "dt1;99999999999999;tok en"}},
		{"a hash", []string{"HSET", "", "field", "value"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			logger, logs := newLogger()
			s := newStore(t, newClient(t, srv.Addr), uniquePrefix(), countTimeout)
			f := appCreds(sim)
			tc.write[1] = s.tokenKey(f.Key())
			if _, err := srv.Do(tc.write...); err != nil {
				t.Fatal(err)
			}
			m := &dingtoken.Manager{Store: s, Logger: logger}
			tok, err := m.Token(context.Background(), f)
			if err != nil || tok.Value != sim.CurrentToken(testClientID) {
				t.Fatalf("Token = %v, %v; want the fetched token", tok, err)
			}
			// One look meets the value, and puts the refresh lock in its place.
			if st := m.Stats(); st.L2Hits != 0 || st.StoreErrors != 1 {
				t.Errorf("stats %+v; want one store error and no L2 hit", st)
			}
			if tc.write[0] == "SET" && !strings.Contains(logs.String(), "does not decode") {
				t.Errorf("log does not say the value does not decode:\n%s", logs)
			}
			// The fetched token replaced the spoilt value: another replica loads it.
			other := &dingtoken.Manager{Store: s}
			if got, err := other.Token(context.Background(), f); err != nil || got.Value != tok.Value || other.Stats().L2Hits != 1 {
				t.Errorf("another replica got %v, %v, stats %+v; want the fetched token from Redis", got, err, other.Stats())
			}
		})
	}
}

func TestCancelledContextSendsNothing(t *testing.T) {
	s := newStore(t, newClient(t, redistest.Start(t).Addr), uniquePrefix(), 0)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	tok := dingtoken.Token{Value: "tok", Expiry: time.Now().Add(time.Hour)}
	for name, call := range map[string]func() error{
		"Load":    func() error { _, err := s.Load(ctx, "app:c"); return err },
		"Save":    func() error { return s.Save(ctx, "app:c", tok) },
		"Delete":  func() error { return s.Delete(ctx, "app:c", "tok") },
		"TryLock": func() error { _, _, err := s.TryLock(ctx, "app:c", time.Minute); return err },
	} {
		if err := call(); !errors.Is(err, context.Canceled) || !strings.HasPrefix(err.Error(), "dingtoken: ") {
			t.Errorf("%s with a cancelled context: err = %v, want a dingtoken: error wrapping context.Canceled", name, err)
		}
	}
	if _, err := s.Load(context.Background(), "app:c"); !errors.Is(err, dingtoken.ErrNotFound) {
		t.Errorf("the cancelled Save stored a token: Load err = %v", err)
	}
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

// logBuffer collects log output from concurrent goroutines.
type logBuffer struct {
	mu  sync.Mutex
	buf strings.Builder
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func newLogger() (*slog.Logger, *logBuffer) {
	b := &logBuffer{}
	return slog.New(slog.NewTextHandler(b, &slog.HandlerOptions{Level: slog.LevelDebug})), b
}

// TestTokensAreSealedInRedis: whoever reads Redis finds no token it could
// use, only the sealed form, unless the Manager is told to store plaintext.
func TestTokensAreSealedInRedis(t *testing.T) {
	srv := redistest.Start(t)
	sim := newSim(t)
	for _, plaintext := range []bool{false, true} {
		s := newStore(t, newClient(t, srv.Addr), uniquePrefix(), countTimeout)
		m := &dingtoken.Manager{Store: s, StorePlaintext: plaintext}
		tok, err := m.Token(context.Background(), appCreds(sim))
		if err != nil {
			t.Fatal(err)
		}
		v, err := srv.Do("GET", s.tokenKey(appCreds(sim).Key()))
		stored, _ := v.(string)
		if err != nil || !strings.HasPrefix(stored, "dt1;") {
			t.Fatalf("GET = %v, %v", v, err)
		}
		if sealed := strings.Contains(stored, ";dts1."); sealed == plaintext || strings.Contains(stored, tok.Value) != plaintext {
			t.Errorf("StorePlaintext %v: Redis holds %q", plaintext, stored)
		}
	}
}
