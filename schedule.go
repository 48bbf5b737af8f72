package dingtoken

import (
	"container/heap"
	"sync"
	"time"
)

// scheduler runs a Manager's timed work on one timer: marking tokens due for
// refresh, and forgetting keys nobody uses. Each key has at most one
// pending moment, kept in the key's own state, so a key costs a heap slot
// rather than a runtime timer of its own; an ISV may hold 100,000 keys.
//
// The timer is a time.AfterFunc: no goroutine waits while nothing is due.
type scheduler struct {
	mu    sync.Mutex  // guards everything below, and every keyState's wake and qi
	queue keyQueue    // keys by wake time, earliest first
	timer *time.Timer // fires at queue[0].wake, or within maxWait; lazily created
	run   func(now time.Time, ks *keyState) (next time.Time)

	maxWait time.Duration // longest wait of the timer; defaultMaxWait if zero
}

// defaultMaxWait bounds the timer's wait. The keys' moments are wall-clock
// time, which a token's expiry is; the timer's wait is not: it stands still
// while the machine sleeps (a suspended VM or laptop, a frozen container),
// and does not follow a clock set forward. Waking at least this often, the
// scheduler marks a token due within this time of the wall clock passing
// its moment, rather than hand it out from memory long after it expired.
const defaultMaxWait = time.Minute

// schedule sets when ks next wakes, replacing any earlier plan; a zero at
// cancels it.
func (s *scheduler) schedule(ks *keyState, at time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.setLocked(ks, at)
	s.armLocked()
}

func (s *scheduler) setLocked(ks *keyState, at time.Time) {
	switch {
	case ks.qi >= 0 && at.IsZero():
		heap.Remove(&s.queue, int(ks.qi))
	case ks.qi >= 0:
		ks.wake = at.UnixNano()
		heap.Fix(&s.queue, int(ks.qi))
	case !at.IsZero():
		ks.wake = at.UnixNano()
		heap.Push(&s.queue, ks)
	}
}

// armLocked points the timer at the earliest wake.
func (s *scheduler) armLocked() {
	if len(s.queue) == 0 {
		if s.timer != nil {
			s.timer.Stop()
		}
		return
	}
	limit := s.maxWait
	if limit <= 0 {
		limit = defaultMaxWait
	}
	wait := min(time.Duration(s.queue[0].wake-time.Now().UnixNano()), limit)
	if s.timer == nil {
		s.timer = time.AfterFunc(wait, s.fire)
		return
	}
	s.timer.Reset(wait)
}

// fire wakes every key whose moment has come and plans its next one.
func (s *scheduler) fire() {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := time.Now()
	for len(s.queue) > 0 && s.queue[0].wake <= now.UnixNano() {
		ks := heap.Pop(&s.queue).(*keyState)
		s.setLocked(ks, s.run(now, ks))
	}
	s.armLocked()
}

// keyQueue is a min-heap of keys by wake time; each key knows its index.
type keyQueue []*keyState

func (q keyQueue) Len() int           { return len(q) }
func (q keyQueue) Less(i, j int) bool { return q[i].wake < q[j].wake }
func (q keyQueue) Swap(i, j int) {
	q[i], q[j] = q[j], q[i]
	q[i].qi, q[j].qi = int32(i), int32(j)
}
func (q *keyQueue) Push(x any) {
	ks := x.(*keyState)
	ks.qi = int32(len(*q))
	*q = append(*q, ks)
}
func (q *keyQueue) Pop() any {
	old := *q
	ks := old[len(old)-1]
	old[len(old)-1] = nil
	*q = old[:len(old)-1]
	ks.qi = -1
	return ks
}
