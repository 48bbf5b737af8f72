package dingtoken

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/bradfitz/gomemcache/memcache"
)

// memcacheLockValue starts the value of a refresh lock that sits in a
// token's place: "dt1;1;<owner>" reads as a token that expired in 1970, so
// Load, and processes of earlier versions, see a miss. No saved token has
// that expiry: Save stores no expired token.
const memcacheLockValue = memcacheValueVersion + ";1;"

// LoadOrLock returns key's token or takes its refresh lock in the token's
// place (see [TokenLocker]), in one round trip: memcached's add, which only
// succeeds where nothing is stored, and a get at the same time, which
// returns what the add found. A stale, expired or undecodable value is
// replaced with the lock by a cas, one more round trip, so that a value
// saved meanwhile survives; one that did not decode is reported as an
// error wrapping errCorruptValue, with the lock taken.
func (s *MemcacheStore) LoadOrLock(ctx context.Context, key, stale string, ttl time.Duration) (Token, func(), bool, error) {
	mkey := memcacheKey(key)
	lock := &memcache.Item{
		Key:        mkey,
		Value:      []byte(memcacheLockValue + newOwnerID()),
		Expiration: int32(max(1, math.Ceil(ttl.Seconds()))),
	}
	looked := make(chan lockLook, 1)
	err := bounded(ctx, func() error {
		r := s.loadOrLock(lock, stale)
		looked <- r
		return r.err
	})
	var r lockLook // zero if ctx ended first: the look may yet take the lock
	select {
	case r = <-looked:
	default:
	}
	if err != nil {
		err = fmt.Errorf("dingtoken: memcached load or lock: %w", err)
		if r.sure || !addMayHaveLanded(err) {
			return Token{}, nil, false, err
		}
		// An add or cas whose answer was lost may have put the lock there.
		return Token{}, func() { s.releaseLock(mkey, lock.Value, true) }, true, err
	}
	if !r.locked {
		return r.token, nil, false, nil
	}
	unlock := func() { s.releaseLock(mkey, lock.Value, false) }
	if r.corrupt != nil {
		return Token{}, unlock, true, fmt.Errorf("%w under %q, replaced with the refresh lock: %v", errCorruptValue, key, r.corrupt)
	}
	return Token{}, unlock, true, nil
}

// lockLook is what loadOrLock found.
type lockLook struct {
	token   Token // the stored token, if not locked
	locked  bool
	sure    bool  // err took no lock: it was the get's
	corrupt error // why the value the lock replaced did not decode
	err     error
}

// loadOrLock is LoadOrLock's work on memcached. A value that changes under
// its cas is looked at once more; after that, another process is busy with
// the key, and it reports a holder.
func (s *MemcacheStore) loadOrLock(lock *memcache.Item, stale string) lockLook {
	for range 2 {
		type got struct {
			item *memcache.Item
			err  error
		}
		found := make(chan got, 1)
		go func() {
			item, err := s.client.Get(lock.Key)
			found <- got{item, err}
		}()
		err := s.client.Add(lock)
		if err == nil {
			// Nothing was there: what the get sees is gone, or our lock.
			// It finishes on its own.
			return lockLook{locked: true}
		}
		g := <-found
		switch {
		case !errors.Is(err, memcache.ErrNotStored):
			return lockLook{err: err}
		case errors.Is(g.err, memcache.ErrCacheMiss):
			return lockLook{} // another process's value, come or gone just now
		case g.err != nil:
			return lockLook{sure: true, err: g.err}
		case strings.HasPrefix(string(g.item.Value), memcacheLockValue):
			return lockLook{} // another holder's lock
		}
		t, corrupt := decodeMemcacheValue(g.item.Value)
		if corrupt == nil && t.Value != stale && t.validAt(time.Now()) {
			return lockLook{token: t}
		}
		g.item.Value, g.item.Expiration = lock.Value, lock.Expiration
		err = s.client.CompareAndSwap(g.item)
		if err == nil {
			return lockLook{locked: true, corrupt: corrupt}
		}
		if !errors.Is(err, memcache.ErrCASConflict) && !errors.Is(err, memcache.ErrNotStored) && !errors.Is(err, memcache.ErrCacheMiss) {
			return lockLook{err: err}
		}
	}
	return lockLook{}
}
