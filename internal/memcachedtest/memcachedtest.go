// Package memcachedtest starts a real memcached on a free loopback port for
// tests, with Stop and Restart for fault tests. With MEMCACHED_ADDR set, it
// uses that server instead.
package memcachedtest

import (
	"net"
	"os"
	"os/exec"
	"strconv"
	"testing"
	"time"
)

// Server is a memcached for one test.
type Server struct {
	Addr string // host:port

	t     testing.TB
	port  int
	cmd   *exec.Cmd
	owned bool // started here; false for MEMCACHED_ADDR
}

// Start starts memcached, or uses MEMCACHED_ADDR, and stops it when the test
// ends. A missing memcached binary fails the test with how to install it.
func Start(t testing.TB) *Server {
	t.Helper()
	if addr := os.Getenv("MEMCACHED_ADDR"); addr != "" {
		return &Server{Addr: addr, t: t}
	}
	return StartOwn(t)
}

// StartOwn always starts a memcached process of its own, for tests that stop
// and restart it.
func StartOwn(t testing.TB) *Server {
	t.Helper()
	if _, err := exec.LookPath("memcached"); err != nil {
		t.Fatal("memcached is not installed: run `make deps` (Debian: apt-get install memcached)")
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	s := &Server{Addr: net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), t: t, port: port, owned: true}
	s.start()
	t.Cleanup(s.Stop)
	return s
}

func (s *Server) start() {
	s.t.Helper()
	args := []string{"-l", "127.0.0.1", "-p", strconv.Itoa(s.port), "-U", "0", "-m", "16", "-c", "1024"}
	if os.Geteuid() == 0 {
		args = append(args, "-u", "nobody") // memcached refuses to run as root
	}
	s.cmd = exec.Command("memcached", args...)
	if err := s.cmd.Start(); err != nil {
		s.t.Fatalf("starting memcached: %v", err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", s.Addr, 100*time.Millisecond)
		if err == nil {
			c.Close()
			return
		}
		if time.Now().After(deadline) {
			s.Stop()
			s.t.Fatalf("memcached did not listen on %s: %v", s.Addr, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// Stop kills memcached; its data is lost. It is safe to call twice.
func (s *Server) Stop() {
	if !s.owned {
		s.t.Fatal("memcachedtest: cannot stop the MEMCACHED_ADDR server")
	}
	if s.cmd == nil {
		return
	}
	s.cmd.Process.Kill()
	s.cmd.Wait()
	s.cmd = nil
}

// Restart starts a fresh, empty memcached on the same address.
func (s *Server) Restart() {
	s.t.Helper()
	s.Stop()
	s.start()
}

// ClosedAddr returns a loopback address where nothing listens.
func ClosedAddr(t testing.TB) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}
