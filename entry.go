package dingtoken

import (
	"math/rand/v2"
	"net/url"
	"sync/atomic"
	"time"
)

// entry is a cached token with the moments the Manager acts on, computed
// once, and the forms a Transport sends it in, built once.
//
// A cache hit through a Fetcher's slot reads only the entry: due, retired,
// m and token, which come first so that they share the first cache line (an
// entry takes 128 bytes, aligned): an ISV's 100,000 entries are not all in
// cache, and each line read is a wait for memory.
type entry struct {
	// due turns true when refreshAt passes, set by the Manager's scheduler,
	// so that a cache hit reads no clock; time.Now costs more than the rest
	// of a hit.
	due atomic.Bool
	// retired turns true once the entry is no longer its key's token
	// (replaced, dropped, or its key forgotten), so that a Fetcher's slot
	// that still points at it knows without reading the keyState.
	retired atomic.Bool

	m     *Manager // the Manager it belongs to, checked by fetcher slots
	token Token

	header [1]string // the x-acs-dingtalk-access-token header's value; header[:] costs no allocation
	query  string    // "access_token=<escaped token>"

	// Moments as Unix nanoseconds, smaller than time.Time: an ISV holds
	// 100,000 entries.
	refreshAt int64 // from here on, refresh in the background
	expireAt  int64 // from here on, do not hand the token out
	obtained  int64 // when this process got it

	ks *keyState // the key it was installed in

	// accepted turns true once DingTalk took the token: a later rejection
	// is news, not the chain below.
	accepted atomic.Bool

	inStore bool // it went to the Store (sealed or not), so a rejection removes it there

	// replacement: the token was obtained after DingTalk rejected the one
	// before it. If DingTalk rejects it too, moments later, the rejections
	// are about something other than the token, and are damped.
	replacement bool
}

// maxLifetime bounds how long a token is held before it is refreshed,
// whatever its Expiry says: the entry's moments are Unix nanoseconds, which
// end in 2262, and a token said to last for centuries (a Fetcher's static
// token) would otherwise wrap to a moment long past, and be fetched again
// on every call.
const maxLifetime = 100 * 365 * 24 * time.Hour

// newEntry computes when t must be refreshed and when it stops being handed
// out. A token is dropped expiryMargin (at most a tenth of its life) before
// it expires, so it cannot expire in flight. The refresh-ahead window is at
// most half its life, and each token's refresh moment falls at random in the
// first half of that window, so that many keys fetched together (an ISV's
// corps, replicas started together) do not all refresh at once.
func (m *Manager) newEntry(t Token, now time.Time) *entry {
	held := t // t as the moments see it
	if held.Expiry.Sub(now) > maxLifetime {
		held.Expiry = now.Add(maxLifetime)
	}
	lifetime := held.Expiry.Sub(now)
	expireAt := handOutUntil(held, now)
	ahead := m.RefreshAhead
	if ahead == 0 {
		ahead = DefaultRefreshAhead
	}
	ahead = min(max(ahead, 0), lifetime/2)
	ahead -= time.Duration(rand.Float64() * refreshSpread * float64(ahead))
	e := &entry{m: m, token: t, obtained: now.UnixNano(), expireAt: expireAt.UnixNano(), refreshAt: expireAt.Add(-ahead).UnixNano()}
	e.header[0] = t.Value
	e.query = "access_token=" + url.QueryEscape(t.Value)
	return e
}

// handOutUntil returns when t, obtained at now, stops being handed out:
// expiryMargin before it expires, at most a tenth of its life.
func handOutUntil(t Token, now time.Time) time.Time {
	return t.Expiry.Add(-min(expiryMargin, t.Expiry.Sub(now)/10))
}

// accept records that DingTalk took e's token; a load first keeps the
// cache line shared on the hot path.
func (e *entry) accept() {
	if !e.accepted.Load() {
		e.accepted.Store(true)
	}
}

// usableAt reports whether e may still be handed out at now.
func (e *entry) usableAt(now time.Time) bool { return now.UnixNano() < e.expireAt }
