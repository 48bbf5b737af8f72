package dingtoken

import (
	"math/rand/v2"
	"net/url"
	"sync/atomic"
	"time"
)

// entry is a cached token with the moments the Manager acts on, computed
// once, and the forms a Transport sends it in, built once.
type entry struct {
	token     Token
	refreshAt time.Time // from here on, refresh in the background
	expireAt  time.Time // from here on, do not hand the token out

	// due turns true when refreshAt passes, set by a timer, so that a cache
	// hit reads no clock; time.Now costs more than the rest of a hit.
	due   atomic.Bool
	timer *time.Timer // sets due; nil once stopped or if due from the start

	header []string // the value of the x-acs-dingtalk-access-token header
	query  string   // "access_token=<escaped token>"

	stored string // the value as the Store holds it (sealed or not); "" if not stored
}

// newEntry computes when t must be refreshed and when it stops being handed
// out. A token is dropped expiryMargin (at most a tenth of its life) before
// it expires, so it cannot expire in flight; the refresh-ahead window is at
// most half its life, shortened by up to refreshJitter so replicas spread out.
// The entry does nothing until arm is called.
func (m *Manager) newEntry(t Token, now time.Time) *entry {
	lifetime := t.Expiry.Sub(now)
	e := &entry{token: t, expireAt: t.Expiry.Add(-min(expiryMargin, lifetime/10))}
	ahead := m.RefreshAhead
	if ahead == 0 {
		ahead = DefaultRefreshAhead
	}
	ahead = min(max(ahead, 0), lifetime/2)
	ahead -= time.Duration(rand.Float64() * refreshJitter * float64(ahead))
	e.refreshAt = e.expireAt.Add(-ahead)
	return e
}

// arm prepares e to be served: it builds the forms the Transport sends and
// starts the timer that marks e due.
func (e *entry) arm() *entry {
	e.header = []string{e.token.Value}
	e.query = "access_token=" + url.QueryEscape(e.token.Value)
	if wait := time.Until(e.refreshAt); wait > 0 {
		e.timer = time.AfterFunc(wait, func() { e.due.Store(true) })
	} else {
		e.due.Store(true)
	}
	return e
}

// stop releases e's timer once e is no longer cached.
func (e *entry) stop() {
	if e != nil && e.timer != nil {
		e.timer.Stop()
	}
}
