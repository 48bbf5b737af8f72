package dingtoken

import "sync/atomic"

// pushBounded publishes in p a new list: the published one without the
// elements keep refuses, its oldest dropped beyond limit, then v last. A
// published list is never modified, so readers load it without a lock; a
// writer that lost a race to another tries again on the newer list. The new
// list is sized to fit: an ISV has 100,000 keys.
func pushBounded[S ~[]E, E any](p *atomic.Pointer[S], v E, limit int, keep func(E) bool) {
	for {
		old := p.Load()
		var next S
		if old != nil {
			next = make(S, 0, min(len(*old)+1, limit))
			for _, e := range *old {
				if keep(e) {
					next = append(next, e)
				}
			}
		}
		if len(next) == limit {
			next = append(next[:0], next[1:]...)
		}
		next = append(next, v)
		if p.CompareAndSwap(old, &next) {
			return
		}
	}
}
