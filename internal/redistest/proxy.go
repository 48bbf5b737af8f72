package redistest

import (
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Proxy forwards TCP connections to a server, and can slow or lose its
// answers on purpose: requests always reach the server at once, so a
// command whose answer is late or lost has still run.
type Proxy struct {
	Addr string // host:port to connect to instead of the server

	target  string
	delay   atomic.Int64                  // nanoseconds every answer is held
	next    atomic.Int32                  // what happens to the next answer: one of the next* values
	nextFor atomic.Int64                  // how long nextHold holds it, in nanoseconds
	arrived atomic.Pointer[chan struct{}] // closed when the held answer comes from the server
	l       net.Listener
	wg      sync.WaitGroup
	mu      sync.Mutex
	conns   []net.Conn // guarded by mu
	closed  chan struct{}
}

const (
	nextAsIs int32 = iota
	nextHold       // hold the next answer for nextFor, then deliver it
	nextCut        // drop the next answer and close that connection
)

// NewProxy starts a proxy to target, closed when the test ends.
func NewProxy(t testing.TB, target string) *Proxy {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &Proxy{Addr: l.Addr().String(), target: target, l: l, closed: make(chan struct{})}
	p.wg.Go(p.accept)
	t.Cleanup(p.close)
	return p
}

// SetDelay holds every answer for d before passing it on.
func (p *Proxy) SetDelay(d time.Duration) { p.delay.Store(int64(d)) }

// HoldNextAnswer holds the next answer from the server, on any connection,
// for d; the answers after it pass as usual. The channel it returns is
// closed when that answer comes from the server: its command has run.
func (p *Proxy) HoldNextAnswer(d time.Duration) <-chan struct{} {
	arrived := make(chan struct{})
	p.arrived.Store(&arrived)
	p.nextFor.Store(int64(d))
	p.next.Store(nextHold)
	return arrived
}

// CutNextAnswer drops the next answer from the server, on any connection,
// and closes that connection, as a network failure after the command ran.
func (p *Proxy) CutNextAnswer() { p.next.Store(nextCut) }

func (p *Proxy) accept() {
	for {
		c, err := p.l.Accept()
		if err != nil {
			return
		}
		up, err := net.Dial("tcp", p.target)
		if err != nil {
			c.Close()
			continue
		}
		p.mu.Lock()
		select {
		case <-p.closed:
			p.mu.Unlock()
			c.Close()
			up.Close()
			return
		default:
		}
		p.conns = append(p.conns, c, up)
		p.mu.Unlock()
		p.wg.Go(func() {
			defer c.Close()
			defer up.Close()
			buf := make([]byte, 32<<10)
			for {
				n, err := c.Read(buf)
				if n > 0 {
					if _, werr := up.Write(buf[:n]); werr != nil {
						return
					}
				}
				if err != nil {
					return
				}
			}
		})
		p.wg.Go(func() {
			defer c.Close()
			defer up.Close()
			buf := make([]byte, 32<<10)
			for {
				n, err := up.Read(buf)
				if n > 0 && !p.pass(c, buf[:n]) {
					return
				}
				if err != nil {
					return
				}
			}
		})
	}
}

// pass delivers one answer to c as the knobs say; false ends the connection.
func (p *Proxy) pass(c net.Conn, b []byte) bool {
	hold := time.Duration(p.delay.Load())
	switch p.next.Swap(nextAsIs) {
	case nextCut:
		return false
	case nextHold:
		hold += time.Duration(p.nextFor.Load())
		if arrived := p.arrived.Swap(nil); arrived != nil {
			close(*arrived)
		}
	}
	if hold > 0 {
		select {
		case <-time.After(hold):
		case <-p.closed:
			return false
		}
	}
	_, err := c.Write(b)
	return err == nil
}

func (p *Proxy) close() {
	close(p.closed)
	p.l.Close()
	p.mu.Lock()
	for _, c := range p.conns {
		c.Close()
	}
	p.mu.Unlock()
	p.wg.Wait()
}
