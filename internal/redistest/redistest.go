// Package redistest starts real Redis servers on free loopback ports for
// tests: a single node (with Stop and Restart for fault tests), a Redis
// Cluster of several masters, and a primary with a replica under a
// Sentinel. Each is stopped when its test ends. With REDIS_ADDR set, Start
// uses that server instead of starting one.
//
// It speaks Redis's protocol itself, with the standard library only, so
// that every module of this repository (redisstore, bench, the examples)
// can use it without the core depending on a Redis client.
package redistest

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// startWait bounds how long a server may take to start listening.
const startWait = 15 * time.Second

// Server is one redis-server process (or the REDIS_ADDR server).
type Server struct {
	Addr string // host:port

	t     testing.TB
	port  int
	args  []string
	dir   string
	cmd   *exec.Cmd
	owned bool // started here; false for REDIS_ADDR
}

// Start starts a Redis server, or uses REDIS_ADDR, for the test. A missing
// redis-server binary fails the test with how to install it.
func Start(t testing.TB) *Server {
	t.Helper()
	if addr := os.Getenv("REDIS_ADDR"); addr != "" {
		return &Server{Addr: addr, t: t}
	}
	return StartOwn(t)
}

// StartOwn always starts a Redis server of its own, for tests that stop and
// restart it.
func StartOwn(t testing.TB, extraArgs ...string) *Server {
	t.Helper()
	return startOn(t, freePort(t, false), extraArgs...)
}

func startOn(t testing.TB, port int, extraArgs ...string) *Server {
	t.Helper()
	lookPath(t, "redis-server")
	s := &Server{t: t, port: port, dir: t.TempDir(), owned: true,
		Addr: net.JoinHostPort("127.0.0.1", strconv.Itoa(port))}
	s.args = append([]string{
		"--port", strconv.Itoa(port), "--bind", "127.0.0.1", "--protected-mode", "no",
		"--save", "", "--appendonly", "no", "--dir", s.dir,
	}, extraArgs...)
	s.start()
	t.Cleanup(s.Stop)
	return s
}

func (s *Server) start() {
	s.t.Helper()
	s.cmd = startProcess(s.t, s.dir, "redis-server", s.args...)
	if err := waitReady(s.Addr, "PING"); err != nil {
		out := s.log()
		s.Stop()
		s.t.Fatalf("redis-server did not start on %s: %v\n%s", s.Addr, err, out)
	}
}

// Stop kills the server; its data is lost. It is safe to call twice.
func (s *Server) Stop() {
	if !s.owned {
		s.t.Fatal("redistest: cannot stop the REDIS_ADDR server")
	}
	if s.cmd == nil {
		return
	}
	s.cmd.Process.Kill()
	s.cmd.Wait()
	s.cmd = nil
}

// Restart starts a fresh, empty server on the same address.
func (s *Server) Restart() {
	s.t.Helper()
	s.Stop()
	s.start()
}

// Do sends one command to the server and returns its reply: a string, an
// int64, a []any, nil, or an error for Redis's error replies.
func (s *Server) Do(args ...string) (any, error) { return Do(s.Addr, args...) }

func (s *Server) log() string {
	b, _ := os.ReadFile(filepath.Join(s.dir, "server.log"))
	return string(b)
}

// Cluster is a Redis Cluster created with `redis-cli --cluster create`:
// masters only, or each master with a replica.
type Cluster struct {
	Addrs   []string  // every node's host:port
	Servers []*Server // every node, in the order of Addrs
}

// StartCluster starts masters cluster-enabled servers, joins them into one
// cluster that covers every slot, and waits until each node says it is ok.
func StartCluster(t testing.TB, masters int) *Cluster {
	t.Helper()
	return startCluster(t, masters, 0, func(string) error { return nil })
}

// startCluster starts masters×(1+replicas) cluster-enabled servers, joins
// them into one cluster with replicas replicas per master, and waits until
// each node says the cluster is ok and ready says the node is.
func startCluster(t testing.TB, masters, replicas int, ready func(addr string) error) *Cluster {
	t.Helper()
	lookPath(t, "redis-cli")
	c := &Cluster{}
	nodes := masters * (1 + replicas)
	for range nodes {
		port := freePort(t, true)
		s := startOn(t, port, "--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf",
			"--cluster-node-timeout", "5000")
		c.Servers = append(c.Servers, s)
		c.Addrs = append(c.Addrs, s.Addr)
	}
	args := append([]string{"--cluster", "create"}, c.Addrs...)
	args = append(args, "--cluster-replicas", fmt.Sprint(replicas), "--cluster-yes")
	if out, err := exec.Command("redis-cli", args...).CombinedOutput(); err != nil {
		t.Fatalf("redis-cli --cluster create: %v\n%s", err, out)
	}
	for _, addr := range c.Addrs {
		if err := waitFor(func() error {
			info, err := Do(addr, "CLUSTER", "INFO")
			if err != nil {
				return err
			}
			if s, _ := info.(string); !strings.Contains(s, "cluster_state:ok") || !strings.Contains(s, fmt.Sprintf("cluster_known_nodes:%d", nodes)) {
				return fmt.Errorf("not ready:\n%s", s)
			}
			return ready(addr)
		}); err != nil {
			t.Fatalf("cluster node %s: %v", addr, err)
		}
	}
	return c
}

// Sentinel is a primary and its replica, watched by one Sentinel that
// promotes the replica 500 ms after the primary stops answering.
type Sentinel struct {
	Addr       string // the Sentinel's host:port
	MasterName string // the name the Sentinel knows the primary by
	Primary    *Server
	Replica    *Server
}

// StartSentinel starts a primary, a replica of it and a Sentinel, and waits
// until the Sentinel knows both.
func StartSentinel(t testing.TB) *Sentinel {
	t.Helper()
	primary := StartOwn(t)
	replica := StartOwn(t, "--replicaof", "127.0.0.1", strconv.Itoa(primary.port))
	port := freePort(t, false)
	dir := t.TempDir()
	conf := filepath.Join(dir, "sentinel.conf")
	const name = "dingtoken"
	err := os.WriteFile(conf, []byte(strings.Join([]string{
		"port " + strconv.Itoa(port),
		"bind 127.0.0.1",
		"protected-mode no",
		"dir " + dir,
		fmt.Sprintf("sentinel monitor %s 127.0.0.1 %d 1", name, primary.port),
		"sentinel down-after-milliseconds " + name + " 500",
		"sentinel failover-timeout " + name + " 5000",
	}, "\n")+"\n"), 0o600)
	if err != nil {
		t.Fatal(err)
	}
	cmd := startProcess(t, dir, "redis-server", conf, "--sentinel")
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	s := &Sentinel{Addr: net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), MasterName: name, Primary: primary, Replica: replica}
	if err := waitFor(func() error {
		r, err := Do(s.Addr, "SENTINEL", "REPLICAS", name)
		if err != nil {
			return err
		}
		if l, _ := r.([]any); len(l) == 0 {
			return errors.New("the Sentinel knows no replica yet")
		}
		return nil
	}); err != nil {
		b, _ := os.ReadFile(filepath.Join(dir, "server.log"))
		t.Fatalf("sentinel on %s: %v\n%s", s.Addr, err, b)
	}
	return s
}

// MasterAddr returns the address the Sentinel gives for the primary now.
func (s *Sentinel) MasterAddr() (string, error) {
	r, err := Do(s.Addr, "SENTINEL", "GET-MASTER-ADDR-BY-NAME", s.MasterName)
	if err != nil {
		return "", err
	}
	l, _ := r.([]any)
	if len(l) != 2 {
		return "", fmt.Errorf("unexpected answer %v", r)
	}
	return net.JoinHostPort(fmt.Sprint(l[0]), fmt.Sprint(l[1])), nil
}

// ClosedAddr returns a loopback address where nothing listens.
func ClosedAddr(t testing.TB) string {
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(freePort(t, false)))
}

// Do sends one command to addr on a new connection and returns the reply.
func Do(addr string, args ...string) (any, error) {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	var b strings.Builder
	fmt.Fprintf(&b, "*%d\r\n", len(args))
	for _, a := range args {
		fmt.Fprintf(&b, "$%d\r\n%s\r\n", len(a), a)
	}
	if _, err := c.Write([]byte(b.String())); err != nil {
		return nil, err
	}
	return readReply(bufio.NewReader(c))
}

// readReply reads one RESP2 reply.
func readReply(r *bufio.Reader) (any, error) {
	line, err := r.ReadString('\n')
	if err != nil {
		return nil, err
	}
	line = strings.TrimSuffix(line, "\r\n")
	if line == "" {
		return nil, errors.New("redistest: empty reply line")
	}
	body := line[1:]
	switch line[0] {
	case '+':
		return body, nil
	case '-':
		return nil, errors.New(body)
	case ':':
		return strconv.ParseInt(body, 10, 64)
	case '$':
		n, err := strconv.Atoi(body)
		if err != nil || n < 0 {
			return nil, err
		}
		buf := make([]byte, n+2)
		if _, err := io.ReadFull(r, buf); err != nil {
			return nil, err
		}
		return string(buf[:n]), nil
	case '*':
		n, err := strconv.Atoi(body)
		if err != nil || n < 0 {
			return nil, err
		}
		l := make([]any, n)
		for i := range l {
			if l[i], err = readReply(r); err != nil {
				return nil, err
			}
		}
		return l, nil
	}
	return nil, fmt.Errorf("redistest: unexpected reply %q", line)
}

// freePort returns a loopback port where nothing listens; with bus, also
// its Cluster bus port, 10000 above it.
func freePort(t testing.TB, bus bool) int {
	t.Helper()
	for range 50 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		port := l.Addr().(*net.TCPAddr).Port
		l.Close()
		if !bus {
			return port
		}
		if port+10000 > 65535 {
			continue
		}
		if lb, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port+10000))); err == nil {
			lb.Close()
			return port
		}
	}
	t.Fatal("redistest: no free port")
	return 0
}

func lookPath(t testing.TB, bin string) {
	t.Helper()
	if _, err := exec.LookPath(bin); err != nil {
		t.Fatalf("%s is not installed: run `make deps` (Debian: apt-get install redis-server redis-tools)", bin)
	}
}

// startProcess starts bin in dir, its output in dir/server.log.
func startProcess(t testing.TB, dir, bin string, args ...string) *exec.Cmd {
	t.Helper()
	log, err := os.Create(filepath.Join(dir, "server.log"))
	if err != nil {
		t.Fatal(err)
	}
	defer log.Close()
	cmd := exec.Command(bin, args...)
	cmd.Dir, cmd.Stdout, cmd.Stderr = dir, log, log
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting %s: %v", bin, err)
	}
	return cmd
}

// waitReady waits until addr answers cmd without an error.
func waitReady(addr, cmd string) error {
	return waitFor(func() error { _, err := Do(addr, cmd); return err })
}

// waitFor polls ready until it returns nil or startWait passes.
func waitFor(ready func() error) error {
	deadline := time.Now().Add(startWait)
	for {
		err := ready()
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return err
		}
		time.Sleep(20 * time.Millisecond)
	}
}
