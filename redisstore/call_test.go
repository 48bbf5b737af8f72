package redisstore

import (
	"context"
	"testing"
	"time"
)

// TestCallReportsWhatTheOperationReturned: an operation that returns within
// the Store's Timeout is reported as it returned, never as the end of the
// context that call gives it. (Ending that context as the operation
// returns made call pick, at random, the context's "canceled" over the
// operation's success.)
func TestCallReportsWhatTheOperationReturned(t *testing.T) {
	s := &Store{Timeout: time.Minute}
	for i := range 20000 {
		if err := s.call(context.Background(), func(context.Context) error { return nil }); err != nil {
			t.Fatalf("call %d of an operation that succeeded: %v", i, err)
		}
	}
}
