package dingtoken

import (
	"sync/atomic"
	"unsafe"
)

// Stats counts what a [Manager] has done since it was created.
type Stats struct {
	L1Hits              uint64 // tokens handed out from memory
	L2Hits              uint64 // tokens adopted from the Store
	Fetches             uint64 // calls to a Fetcher, that is, to DingTalk
	FetchErrors         uint64 // fetches that failed or panicked
	BackgroundRefreshes uint64 // refreshes started ahead of expiry, with no caller waiting
	Invalidations       uint64 // tokens dropped because DingTalk rejected them
	StoreErrors         uint64 // Store and Locker calls that failed
	LockWaits           uint64 // times another process held the refresh lock and we waited for its token
	Retries             uint64 // requests a Transport (or calls WithToken) sent again with a fresh token after DingTalk rejected theirs
	DampedRejections    uint64 // rejections passed on without dropping the token: its replacement was rejected too
	Keys                uint64 // keys held now; idle ones are forgotten
}

type counters struct {
	l1Hits                                            stripedCounter
	l2Hits, fetches, fetchErrors, backgroundRefreshes atomic.Uint64
	invalidations, storeErrors, lockWaits, retries    atomic.Uint64
	dampedRejections                                  atomic.Uint64
}

// stripedCounter counts events that happen on every core at once, such as
// cache hits, over several cache lines, so that cores do not take turns
// owning one line; a shared counter made a cache hit four times slower.
type stripedCounter struct {
	_       [128]byte // keeps other fields off the first stripe's line
	stripes [16]struct {
		n atomic.Uint64
		_ [120]byte // 128 bytes apart: never two stripes on one cache line, however aligned
	}
}

// add counts one event in the stripe picked by the caller's stack address:
// goroutines have separate stacks, so concurrent callers mostly land on
// separate stripes, and picking one costs no call or shared state.
func (c *stripedCounter) add() {
	var probe byte
	line := uint64(uintptr(unsafe.Pointer(&probe))) >> 6
	c.stripes[line*0x9E3779B97F4A7C15>>60].n.Add(1) // Fibonacci hashing: the top 4 bits pick one of 16
}

func (c *stripedCounter) load() uint64 {
	var sum uint64
	for i := range c.stripes {
		sum += c.stripes[i].n.Load()
	}
	return sum
}

// Stats returns the Manager's counters.
func (m *Manager) Stats() Stats {
	c := &m.stats
	return Stats{
		L1Hits:              c.l1Hits.load(),
		L2Hits:              c.l2Hits.Load(),
		Fetches:             c.fetches.Load(),
		FetchErrors:         c.fetchErrors.Load(),
		BackgroundRefreshes: c.backgroundRefreshes.Load(),
		Invalidations:       c.invalidations.Load(),
		StoreErrors:         c.storeErrors.Load(),
		LockWaits:           c.lockWaits.Load(),
		Retries:             c.retries.Load(),
		DampedRejections:    c.dampedRejections.Load(),
		Keys:                uint64(max(m.keyCount.Load(), 0)),
	}
}
