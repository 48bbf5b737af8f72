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
// error wrapping ErrCorruptValue, with the lock taken.
func (s *MemcacheStore) LoadOrLock(ctx context.Context, key string, stale Token, ttl time.Duration) (Token, *HeldLock, error) {
	if err := ctx.Err(); err != nil {
		return Token{}, nil, fmt.Errorf("dingtoken: memcached load or lock: %w", err) // nothing sent
	}
	mkey := memcacheKey(key)
	lock := &memcache.Item{Key: mkey, Value: []byte(memcacheLockValue + newOwnerID()), Expiration: lockExpiration(ttl)}
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
	held := func(uncertain bool) *HeldLock {
		return &HeldLock{
			Unlock: func() { s.releaseLock(mkey, lock.Value, uncertain) },
			Extend: func(ctx context.Context, ttl time.Duration) error { return s.extendLock(ctx, mkey, lock.Value, ttl) },
		}
	}
	if err != nil {
		// An add or cas whose answer was lost, or was still to come when
		// ctx ended, may have put the lock there.
		mayHold := !r.sure && (addMayHaveLanded(err) || ctx.Err() != nil)
		err = fmt.Errorf("dingtoken: memcached load or lock: %w", err)
		if !mayHold {
			return Token{}, nil, err
		}
		return Token{}, held(true), err
	}
	if !r.locked {
		return r.token, nil, nil
	}
	if r.corrupt != nil {
		return Token{}, held(false), fmt.Errorf("%w under %q, replaced with the refresh lock: %v", ErrCorruptValue, key, r.corrupt)
	}
	return Token{}, held(false), nil
}

// extendLock makes the lock value under mkey live ttl from now if it is
// still there, with a gets/cas pair: a token saved over it, or another
// holder's lock, is left alone.
func (s *MemcacheStore) extendLock(ctx context.Context, mkey string, value []byte, ttl time.Duration) error {
	err := bounded(ctx, func() error {
		var item *memcache.Item
		err := s.retried(func() (err error) {
			item, err = s.client.Get(mkey)
			return err
		})
		if err != nil {
			return err
		}
		if string(item.Value) != string(value) {
			return errLockGone
		}
		item.Expiration = lockExpiration(ttl)
		return s.retried(func() error { return s.client.CompareAndSwap(item) })
	})
	if changedSince(err) {
		err = errLockGone
	}
	if err != nil {
		return fmt.Errorf("dingtoken: memcached lock extension: %w", err)
	}
	return nil
}

// sameToken reports whether stored, a token as read back, is t: the same
// value and expiry, to the millisecond a Store keeps.
func sameToken(stored, t Token) bool {
	return stored.Value == t.Value && stored.Expiry.UnixMilli() == t.Expiry.UnixMilli()
}

// changedSince reports whether a cas failed because the item changed, or
// went, since it was read.
func changedSince(err error) bool {
	return errors.Is(err, memcache.ErrCASConflict) || errors.Is(err, memcache.ErrNotStored) || errors.Is(err, memcache.ErrCacheMiss)
}

// errLockGone: the lock to extend is no longer there, or not its holder's.
var errLockGone = errors.New("the refresh lock is gone")

// lockExpiration is memcached's expiration for a lock of ttl: whole
// seconds, at least one.
func lockExpiration(ttl time.Duration) int32 { return int32(max(1, math.Ceil(ttl.Seconds()))) }

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
func (s *MemcacheStore) loadOrLock(lock *memcache.Item, stale Token) lockLook {
	for range 2 {
		type got struct {
			item *memcache.Item
			err  error
		}
		found := make(chan got, 1)
		go func() {
			var item *memcache.Item
			err := s.retried(func() (err error) {
				item, err = s.client.Get(lock.Key)
				return err
			})
			found <- got{item, err}
		}()
		err := s.retried(func() error { return s.client.Add(lock) })
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
		case string(g.item.Value) == string(lock.Value):
			// Our own add, tried again on a new connection after the
			// first one's connection closed, or our cas of a look before.
			return lockLook{locked: true}
		case strings.HasPrefix(string(g.item.Value), memcacheLockValue):
			return lockLook{} // another holder's lock
		}
		t, corrupt := decodeMemcacheValue(g.item.Value)
		if corrupt == nil && !sameToken(t, stale) && t.validAt(time.Now()) {
			return lockLook{token: t}
		}
		g.item.Value, g.item.Expiration = lock.Value, lock.Expiration
		err = s.retried(func() error { return s.client.CompareAndSwap(g.item) })
		if err == nil {
			return lockLook{locked: true, corrupt: corrupt}
		}
		if !changedSince(err) {
			return lockLook{err: err}
		}
	}
	return lockLook{}
}
