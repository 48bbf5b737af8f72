package dingtoken

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dingtoken/dingtoken/dingtalktest"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	code := m.Run()
	// The shared retrying client keeps connections to the simulators alive.
	defaultRetryClient().CloseIdleConnections()
	if code == 0 {
		if err := findLeaks(); err != nil {
			fmt.Fprintln(os.Stderr, "goleak:", err)
			code = 1
		}
	}
	os.Exit(code)
}

// findLeaks runs goleak, giving background Store work (saves, lock releases
// retried after a failure) the few seconds its timeouts bound it to.
func findLeaks() error {
	deadline := time.Now().Add(5 * time.Second)
	for {
		err := goleak.Find()
		if err == nil || time.Now().After(deadline) {
			return err
		}
		time.Sleep(100 * time.Millisecond)
	}
}

const (
	testClientID = "ding-test-app"
	testSecret   = "app-secret-b7f1c0de9a"
)

// newSim starts a simulator that knows the test app.
func newSim(t testing.TB) *dingtalktest.Server {
	t.Helper()
	srv := dingtalktest.NewServer()
	t.Cleanup(srv.Close)
	srv.AddApp(testClientID, testSecret)
	return srv
}

// sealed gives a test's Fetcher a secret to seal its tokens with, so that
// a Manager shares them through its Store, as it does those of every
// credential type.
func sealed(f Fetcher) Fetcher { return sealingFetcher{f} }

type sealingFetcher struct{ Fetcher }

func (sealingFetcher) SealingSecret() string { return "test-sealing-secret-4c1d" }

// appCreds fetches the test app's token from srv with the default retrying client.
func appCreds(srv *dingtalktest.Server) *AppCredentials {
	return &AppCredentials{ClientID: testClientID, ClientSecret: testSecret, Endpoint: srv.URL}
}

// logBuffer collects log output from concurrent goroutines.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
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

// newLogger returns a logger that writes every level into a logBuffer.
func newLogger() (*slog.Logger, *logBuffer) {
	b := &logBuffer{}
	return slog.New(slog.NewTextHandler(b, &slog.HandlerOptions{Level: slog.LevelDebug})), b
}

// assertNoSecret fails if text contains any of the secrets.
func assertNoSecret(t testing.TB, what, text string, secrets ...string) {
	t.Helper()
	for _, s := range secrets {
		if s != "" && strings.Contains(text, s) {
			t.Errorf("%s contains a secret: %q", what, text)
		}
	}
}

// settle waits for m's background Store work (saves, releases, deletes),
// for tests that read the Store right after a call.
func settle(m *Manager) { m.Flush(context.Background()) }
