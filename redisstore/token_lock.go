package redisstore

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/dingtoken/dingtoken"
)

// lockValue starts the value of a refresh lock that sits in a token's
// place: "dt1;1;<owner>" reads as a token that expired in 1970, so Load,
// and processes of earlier versions, see a miss. No saved token has that
// expiry: Save stores no expired token.
const lockValue = valueVersion + ";1;"

// LoadOrLock returns key's token or takes its refresh lock in the token's
// place (see [dingtoken.TokenLocker]): one script on the key, so one round
// trip, atomic, and on the node that owns the key in a Cluster. A value
// that does not decode is replaced with the lock and reported as an error
// wrapping ErrCorruptValue, with the lock taken.
//
// As with TryLock, a call whose answer may be lost (late, cancelled, or cut
// off with its connection) reports the error with the lock as maybe ours,
// and a resent call that finds its own lock counts it as taken.
//
// On a Redis that runs no script for this client (as TryLock says), it
// reads the token with GET and takes no lock: a usable token is returned,
// and anything else is the refusal's error, so the caller fetches.
func (s *Store) LoadOrLock(ctx context.Context, key string, stale dingtoken.Token, ttl time.Duration) (dingtoken.Token, *dingtoken.HeldLock, error) {
	if err := ctx.Err(); err != nil {
		return dingtoken.Token{}, nil, fmt.Errorf("dingtoken: redis load or lock: %w", err) // nothing sent
	}
	tokenKey, lock := s.tokenKey(key), lockValue+newOwnerID()
	held := &dingtoken.HeldLock{
		Unlock: func() { s.release(tokenKey, lock) },
		Extend: func(ctx context.Context, ttl time.Duration) error { return s.extend(ctx, tokenKey, lock, ttl) },
	}
	staleValue := "" // matches no stored value
	if stale.Value != "" {
		staleValue = encodeValue(stale)
	}
	var corrupt error // why the value the next call replaces does not decode
	for range 2 {
		var got []any
		finished, err := s.track(ctx, func(ctx context.Context) (err error) {
			got, err = loadOrLockScript.Run(ctx, s.client, []string{tokenKey}, lock, milliseconds(ttl), staleValue).Slice()
			return err
		})
		if err != nil {
			err = fmt.Errorf("dingtoken: redis load or lock: %w", err)
			if scriptsRefused(err) {
				t, err := s.plainLoad(ctx, key, staleValue, err)
				return t, nil, err
			}
			if !mayHaveLanded(err) && ctx.Err() == nil {
				return dingtoken.Token{}, nil, err
			}
			// Its answer was lost, or still to come when ctx ended: the
			// lock may be ours, or may yet be.
			held.Unlock = func() { s.releaseLate(tokenKey, lock, finished) }
			return dingtoken.Token{}, held, err
		}
		answer, _ := got[0].(int64)
		if answer == 0 {
			return dingtoken.Token{}, nil, nil // another holder's lock
		}
		if answer == 3 {
			corrupt = errors.New("unknown layout")
		}
		if answer == 1 || answer == 3 {
			if corrupt != nil {
				return dingtoken.Token{}, held, fmt.Errorf("%w under %q, replaced with the refresh lock: %v", ErrCorruptValue, key, corrupt)
			}
			return dingtoken.Token{}, held, nil
		}
		v, _ := got[len(got)-1].(string) // {2, value}
		t, err := decodeValue(v)
		if err == nil && time.Now().Before(t.Expiry) {
			return t, nil, nil
		}
		// Expired, or not a token after all: the next call replaces it.
		corrupt, staleValue = err, v
	}
	return dingtoken.Token{}, nil, nil // changing under us: another process is at work
}

// extend makes the lock under tokenKey live ttl from now if it is still
// lock, in one script.
func (s *Store) extend(ctx context.Context, tokenKey, lock string, ttl time.Duration) error {
	var n int64
	err := s.call(ctx, func(ctx context.Context) (err error) {
		n, err = extendScript.Run(ctx, s.client, []string{tokenKey}, lock, milliseconds(ttl)).Int64()
		return err
	})
	if err == nil && n != 1 {
		err = errors.New("the refresh lock is gone")
	}
	if err != nil {
		return fmt.Errorf("dingtoken: redis lock extension: %w", err)
	}
	return nil
}

// milliseconds is ttl in Redis's PX, rounded up, at least 1.
func milliseconds(ttl time.Duration) int64 {
	return max(1, (ttl + time.Millisecond - 1).Milliseconds())
}
