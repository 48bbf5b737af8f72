package dingtoken

import "sync/atomic"

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
	Retries             uint64 // requests a Transport sent again with a fresh token after DingTalk rejected theirs
}

type counters struct {
	l1Hits, l2Hits, fetches, fetchErrors atomic.Uint64
	backgroundRefreshes, invalidations   atomic.Uint64
	storeErrors, lockWaits, retries      atomic.Uint64
}

// Stats returns the Manager's counters.
func (m *Manager) Stats() Stats {
	c := &m.stats
	return Stats{
		L1Hits:              c.l1Hits.Load(),
		L2Hits:              c.l2Hits.Load(),
		Fetches:             c.fetches.Load(),
		FetchErrors:         c.fetchErrors.Load(),
		BackgroundRefreshes: c.backgroundRefreshes.Load(),
		Invalidations:       c.invalidations.Load(),
		StoreErrors:         c.storeErrors.Load(),
		LockWaits:           c.lockWaits.Load(),
		Retries:             c.retries.Load(),
	}
}
