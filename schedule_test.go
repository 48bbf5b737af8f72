package dingtoken

import (
	"testing"
	"time"
)

// TestSchedulerFollowsTheWallClock: a key's moment is wall-clock time, the
// timer's wait is not. When the wall clock passes a moment while the timer
// still waits (the machine slept, or its clock was set forward), the key
// is run within the scheduler's longest wait, not when the wait planned
// before the sleep ends: a token would be handed out from memory long
// after it expired.
func TestSchedulerFollowsTheWallClock(t *testing.T) {
	ran := make(chan *keyState, 1)
	s := &scheduler{maxWait: 20 * time.Millisecond, run: func(_ time.Time, ks *keyState) time.Time {
		ran <- ks
		return time.Time{}
	}}
	ks := &keyState{qi: -1}
	s.schedule(ks, time.Now().Add(time.Hour))
	s.mu.Lock()
	ks.wake = time.Now().UnixNano() // the hour passed on the wall clock, not for the timer
	s.mu.Unlock()
	select {
	case got := <-ran:
		if got != ks {
			t.Errorf("ran %p, want the key %p", got, ks)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("a moment the wall clock passed was not run within 10 s")
	}
}
