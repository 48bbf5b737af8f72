package redisstore

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/dingtoken/dingtoken"
	"github.com/dingtoken/dingtoken/dingtalktest"
	"github.com/dingtoken/dingtoken/internal/redistest"
	"github.com/redis/go-redis/v9"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const (
	testClientID = "ding-redis-test-app"
	testSecret   = "app-secret-5e3d1f0a77"
)

// countTimeout bounds each Redis call in tests that count token fetches: a
// call that gives up on a loaded machine would cost a fetch and fail the
// count without saying anything about the Store.
const countTimeout = 2 * time.Second

var prefixes atomic.Int64

// uniquePrefix keeps the keys of each Store a test makes apart, on a Redis
// that several tests (or REDIS_ADDR) share.
func uniquePrefix() string {
	return fmt.Sprintf("dingtoken-test:%d:%d:", os.Getpid(), prefixes.Add(1))
}

// newClient returns a client of the server at addr, closed when the test ends.
func newClient(t testing.TB, addr string) *redis.Client {
	return newClientWith(t, &redis.Options{Addr: addr, ContextTimeoutEnabled: true})
}

// newClientWith returns a client made with opts, closed when t ends.
func newClientWith(t testing.TB, opts *redis.Options) *redis.Client {
	c := redis.NewClient(opts)
	t.Cleanup(func() { c.Close() })
	return c
}

// warmStoreBehindProxy starts a server and a proxy before it, and returns
// them with a Store on a client through the proxy, giving up after
// timeout, whose scripts Redis has run once already.
func warmStoreBehindProxy(t *testing.T, timeout time.Duration) (*redistest.Server, *redistest.Proxy, *Store) {
	t.Helper()
	srv := redistest.Start(t)
	proxy := redistest.NewProxy(t, srv.Addr)
	s := newStore(t, newClient(t, proxy.Addr), uniquePrefix(), timeout)
	warm(t, s)
	return srv, proxy, s
}

func newClusterClient(t testing.TB, addrs []string) *redis.ClusterClient {
	c := redis.NewClusterClient(&redis.ClusterOptions{Addrs: addrs, ContextTimeoutEnabled: true})
	t.Cleanup(func() { c.Close() })
	return c
}

// newStore returns a Store on c with prefix and timeout.
func newStore(t testing.TB, c redis.UniversalClient, prefix string, timeout time.Duration) *Store {
	s := New(c)
	s.Prefix, s.Timeout = prefix, timeout
	return s
}

// newSim starts a simulator that knows the test app.
func newSim(t testing.TB) *dingtalktest.Server {
	t.Helper()
	srv := dingtalktest.NewServer()
	t.Cleanup(srv.Close)
	srv.AddApp(testClientID, testSecret)
	return srv
}

func appCreds(srv *dingtalktest.Server) *dingtoken.AppCredentials {
	return &dingtoken.AppCredentials{ClientID: testClientID, ClientSecret: testSecret, HTTPClient: srv.Client()}
}

// newTestClient is a service's HTTP client: the simulator behind a
// Transport of m.
func newTestClient(srv *dingtalktest.Server, m *dingtoken.Manager) *http.Client {
	return &http.Client{Transport: &dingtoken.Transport{Fetcher: appCreds(srv), Manager: m, Base: srv.Transport()}}
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
	var answer struct {
		ErrCode int    `json:"errcode"`
		Code    string `json:"code"`
	}
	if err := json.Unmarshal(body, &answer); err != nil || resp.StatusCode != 200 || answer.ErrCode != 0 || answer.Code != "" {
		return fmt.Errorf("request %d: HTTP %d %s", i, resp.StatusCode, body)
	}
	return nil
}

// burst sends n requests at once, spread over clients, and returns the
// first failure.
func burst(n int, clients ...*http.Client) error {
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Go(func() {
			if err := apiCall(clients[i%len(clients)], i); err != nil {
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	return <-errs
}

func newFailoverClient(t testing.TB, s *redistest.Sentinel) *redis.Client {
	c := redis.NewFailoverClient(&redis.FailoverOptions{MasterName: s.MasterName, SentinelAddrs: []string{s.Addr}, ContextTimeoutEnabled: true})
	t.Cleanup(func() { c.Close() })
	return c
}
