package redisstore

import (
	"context"
	"testing"
	"time"

	"github.com/dingtoken/dingtoken"
	"github.com/dingtoken/dingtoken/internal/redistest"
)

// TestAnsweredCallsSucceed: a call Redis answered in time returns that
// answer, never the end of the context the Store gives the call. A
// successful TryLock reported as failed would leave its lock to hold every
// other process off for its ttl.
func TestAnsweredCallsSucceed(t *testing.T) {
	s := newStore(t, newClient(t, redistest.Start(t).Addr), uniquePrefix(), countTimeout)
	ctx := context.Background()
	tok := dingtoken.Token{Value: "tok-answered", Expiry: time.Now().Add(time.Hour)}
	if err := s.Save(ctx, "app:answered", tok); err != nil {
		t.Fatal(err)
	}
	const calls = 2000
	for i := range calls {
		if _, err := s.Load(ctx, "app:answered"); err != nil {
			t.Fatalf("Load %d of %d on a healthy Redis: %v", i+1, calls, err)
		}
	}
	for i := range calls / 4 {
		unlock, ok, err := s.TryLock(ctx, "app:answered", time.Minute)
		if err != nil || !ok {
			t.Fatalf("TryLock %d of %d of a free lock on a healthy Redis = %v, %v; want it taken", i+1, calls/4, ok, err)
		}
		unlock()
	}
}
