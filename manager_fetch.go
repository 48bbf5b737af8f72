package dingtoken

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"strings"
	"time"
)

// fetch asks DingTalk, through f, for a token, within RefreshTimeout.
func (m *Manager) fetch(ctx context.Context, ks *keyState, f Fetcher, background bool) (Token, error) {
	ctx, cancel := context.WithTimeout(ctx, m.refreshTimeout())
	defer cancel()
	m.stats.fetches.Add(1)
	h := m.Hooks
	if h != nil && h.FetchStart != nil {
		h.FetchStart(FetchStartInfo{Context: ctx, Key: ks.key, Background: background})
	}
	start := time.Now()
	t, err := m.callFetcher(ctx, ks, f)
	if err == nil && t.Value == "" {
		err = fmt.Errorf("%w: the fetcher returned an empty token", ErrMalformedResponse)
	}
	if err == nil && !t.Expiry.After(time.Now()) {
		err = fmt.Errorf("%w: the fetcher returned a token that has already expired", ErrMalformedResponse)
	}
	if h != nil && h.FetchDone != nil {
		class, code := classify(err)
		h.FetchDone(FetchDoneInfo{Context: ctx, Key: ks.key, Duration: time.Since(start), Err: class, Code: code})
	}
	if err != nil {
		m.stats.fetchErrors.Add(1)
		// The credential types of this package scrub their secrets from
		// their errors; a Fetcher of another package may not. Its secrets
		// are unknown here, but not the parameters DingTalk takes them in.
		err = redactError(err)
		if !strings.HasPrefix(err.Error(), "dingtoken: ") {
			err = fmt.Errorf("dingtoken: fetch %s: %w", ks.key, err)
		}
		m.log(slog.LevelWarn, "dingtoken: token fetch failed", ks.key, "err", err)
		return Token{}, err
	}
	m.log(slog.LevelInfo, "dingtoken: fetched a token", ks.key, "expiry", t.Expiry)
	return t, nil
}

// callFetcher calls f.Fetch on a goroutine of its own, so that a Fetcher
// that panics, calls runtime.Goexit (a test's t.FailNow) or ignores ctx
// cannot take the refresh with it: its waiters get an error, at the latest
// when ctx ends.
func (m *Manager) callFetcher(ctx context.Context, ks *keyState, f Fetcher) (Token, error) {
	type result struct {
		t   Token
		err error
	}
	done := make(chan result, 1)
	go func() {
		returned := false
		defer func() {
			if returned {
				return
			}
			r := recover()
			err := fmt.Errorf("%w: fetch %s: %s", ErrFetchPanicked, ks.key, describePanic(r))
			// The stack shows where, without the values: a panic value
			// may quote a secret.
			m.log(slog.LevelError, "dingtoken: fetcher panicked", ks.key, "err", err, "stack", string(debug.Stack()))
			done <- result{err: err}
		}()
		t, err := f.Fetch(ctx)
		returned = true
		done <- result{t, err}
	}()
	select {
	case r := <-done:
		return r.t, r.err
	case <-ctx.Done():
		return Token{}, fmt.Errorf("dingtoken: fetch %s: the fetcher did not return: %w", ks.key, ctx.Err())
	}
}

// errGoexit stands for a Fetcher, Store or hook that called runtime.Goexit.
var errGoexit = errors.New("runtime.Goexit was called")

// describePanic says what a recovered panic was without its value, which
// may hold a secret: a fetcher's message quoting its URL, say. A nil r is
// a runtime.Goexit, which recover cannot stop.
func describePanic(r any) string {
	if r == nil {
		return errGoexit.Error()
	}
	return fmt.Sprintf("a panic with a value of type %T (not shown: it may hold a secret)", r)
}
