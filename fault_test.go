package dingtoken

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/bradfitz/gomemcache/memcache"
	"github.com/dingtoken/dingtoken/internal/memcachedtest"
)

// Faults not covered beside the code they concern: a slow or babbling
// memcached, a refresh that outlives its timeout, and contexts that end at
// each stage of a request. The README's Reliability table lists every fault
// and the test that tries it.

// tcpFault is a loopback TCP server for fault tests: it hands each
// connection to serve and closes everything when the test ends.
type tcpFault struct {
	l     net.Listener
	wg    sync.WaitGroup
	mu    sync.Mutex
	conns []net.Conn
}

func newTCPFault(t *testing.T, serve func(c net.Conn)) *tcpFault {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f := &tcpFault{l: l}
	f.wg.Add(1)
	go func() {
		defer f.wg.Done()
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			f.mu.Lock()
			f.conns = append(f.conns, c)
			f.mu.Unlock()
			f.wg.Add(1)
			go func() {
				defer f.wg.Done()
				defer c.Close()
				serve(c)
			}()
		}
	}()
	t.Cleanup(func() {
		l.Close()
		f.mu.Lock()
		for _, c := range f.conns {
			c.Close()
		}
		f.mu.Unlock()
		f.wg.Wait()
	})
	return f
}

func (f *tcpFault) addr() string { return f.l.Addr().String() }

// slowProxy forwards to target, holding every chunk of bytes for delay.
func slowProxy(t *testing.T, target string, delay time.Duration) *tcpFault {
	return newTCPFault(t, func(c net.Conn) {
		up, err := net.Dial("tcp", target)
		if err != nil {
			return
		}
		done := make(chan struct{})
		go func() {
			defer close(done)
			delayedCopy(up, c, delay)
			up.Close() // ends the other direction too
		}()
		delayedCopy(c, up, delay)
		up.Close()
		c.Close()
		<-done
	})
}

func delayedCopy(dst, src net.Conn, delay time.Duration) {
	buf := make([]byte, 4096)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			time.Sleep(delay)
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

// babbler answers every memcached command with a line of nonsense.
func babbler(t *testing.T) *tcpFault {
	return newTCPFault(t, func(c net.Conn) {
		buf := make([]byte, 4096)
		for {
			if _, err := c.Read(buf); err != nil {
				return
			}
			if _, err := io.WriteString(c, "VALUE ??? not memcached\r\n\x00\xff garbage\r\n"); err != nil {
				return
			}
		}
	})
}

// requestsSurvive sends n requests through a Manager on store, revoking the
// token halfway, and checks that every one succeeds with two token fetches.
func requestsSurvive(t *testing.T, store Store, n int) *Manager {
	t.Helper()
	srv := newSim(t)
	m := &Manager{Store: store}
	c := newTestClient(srv, m)
	for i := range n {
		if err := apiCall(c, i); err != nil {
			t.Fatalf("request %d: %v", i, err)
		}
		if i == n/2 {
			srv.RevokeAll()
		}
	}
	if got := srv.Fetches(testClientID); got != 2 {
		t.Errorf("token fetches %d, want 2 (first token, one after the revocation)", got)
	}
	return m
}

func TestFaultSlowMemcached(t *testing.T) {
	mc := memcachedtest.Start(t)
	proxy := slowProxy(t, mc.Addr, 300*time.Millisecond) // 3× the memcached timeout
	start := time.Now()
	m := requestsSurvive(t, NewMemcacheStore(memcache.New(proxy.addr())), 40)
	if m.Stats().StoreErrors == 0 {
		t.Error("a memcached slower than its timeout caused no StoreErrors")
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("40 requests took %v behind a slow memcached", d)
	}
}

func TestFaultGarbageMemcached(t *testing.T) {
	m := requestsSurvive(t, NewMemcacheStore(memcache.New(babbler(t).addr())), 40)
	if m.Stats().StoreErrors == 0 {
		t.Error("a memcached answering garbage caused no StoreErrors")
	}
}

// TestFaultRefreshTimeout: DingTalk takes longer than RefreshTimeout. The
// caller gets DeadlineExceeded, and the next caller gets the same error from
// the backoff instead of another call.
func TestFaultRefreshTimeout(t *testing.T) {
	srv := newSim(t)
	srv.SetTokenDelay(time.Minute)
	m := &Manager{RefreshTimeout: 300 * time.Millisecond}
	start := time.Now()
	_, err := m.Token(context.Background(), appCreds(srv))
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("err = %v, want context.DeadlineExceeded", err)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("the caller waited %v for a 300 ms refresh timeout", d)
	}
	if _, err2 := m.Token(context.Background(), appCreds(srv)); !errors.Is(err2, context.DeadlineExceeded) {
		t.Errorf("second call: err = %v, want the same error from the backoff", err2)
	}
	if got := srv.Fetches(testClientID); got != 1 {
		t.Errorf("token fetches %d, want 1", got)
	}
}

func TestFaultContextAlreadyCancelled(t *testing.T) {
	srv := newSim(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", "https://api.dingtalk.com/v1.0/contact/users/me", nil)
	_, err := newTestClient(srv, &Manager{}).Do(req)
	if !errors.Is(err, context.Canceled) {
		t.Errorf("err = %v, want context.Canceled", err)
	}
	if got := srv.TotalFetches(); got != 0 {
		t.Errorf("a cancelled request started %d token fetches", got)
	}
}

// TestFaultContextCancelledInFlight: the caller gives up while DingTalk is
// answering the request itself; it is not retried.
func TestFaultContextCancelledInFlight(t *testing.T) {
	srv := newSim(t)
	arrived := make(chan struct{})
	srv.Handle("/v1.0/slow", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(arrived)
		<-r.Context().Done()
	}))
	m := &Manager{}
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		<-arrived
		cancel()
	}()
	req, _ := http.NewRequestWithContext(ctx, "GET", "https://api.dingtalk.com/v1.0/slow", nil)
	_, err := newTestClient(srv, m).Do(req)
	if !errors.Is(err, context.Canceled) {
		t.Errorf("err = %v, want context.Canceled", err)
	}
	if calls, _ := srv.APICalls(); calls != 1 || m.Stats().Retries != 0 {
		t.Errorf("API calls %d, retries %d; want 1 and 0", calls, m.Stats().Retries)
	}
}
