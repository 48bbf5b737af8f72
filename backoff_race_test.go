package dingtoken

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
)

// TestBackoffRecordedWhileACallerJoins: a caller that found no backoff just
// before a failing refresh ended, and joins right after, gets the failure
// instead of starting another refresh.
func TestBackoffRecordedWhileACallerJoins(t *testing.T) {
	down := errors.New("DingTalk is down")
	var calls atomic.Int32
	fetching, fail := make(chan struct{}), make(chan struct{})
	f := FetcherFunc("down", func(context.Context) (Token, error) {
		if calls.Add(1) == 1 {
			close(fetching)
			<-fail
		}
		return Token{}, down
	})
	var joins atomic.Int32
	atJoin, refreshEnded := make(chan struct{}), make(chan struct{})
	m := &Manager{}
	m.testHookBeforeJoin = func() {
		if joins.Add(1) == 2 {
			close(atJoin)
			<-refreshEnded
		}
	}
	first := make(chan error, 1)
	go func() {
		_, err := m.Token(context.Background(), f)
		first <- err
	}()
	<-fetching
	second := make(chan error, 1)
	go func() {
		_, err := m.Token(context.Background(), f)
		second <- err
	}()
	<-atJoin // the second caller found no backoff
	close(fail)
	if err := <-first; !errors.Is(err, down) {
		t.Fatalf("first caller: %v", err)
	}
	close(refreshEnded)
	if err := <-second; !errors.Is(err, down) {
		t.Errorf("second caller: %v, want the failure", err)
	}
	if n := calls.Load(); n != 1 {
		t.Errorf("the fetcher was called %d times, want 1: the backoff was not honoured", n)
	}
}
