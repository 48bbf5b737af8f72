package redisstore

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/dingtoken/dingtoken"
	"github.com/redis/go-redis/v9"
)

// Some Redis deployments run no script for this client: an ACL user
// without @scripting, or EVAL and EVALSHA renamed away. Failing every lock
// there would keep suite tickets out of Redis for good (SuiteTickets.Put
// needs the lock) and make Redis write-only for tokens (every replica
// fetches its own). Instead the Store falls back to plain one-key
// commands: GET, SET NX PX and DEL. What it loses is atomicity between a
// read and the write after it, for one round trip: a release or a Delete
// that reads its value just before the value expires and is replaced may
// remove the replacement. LoadOrLock only reads: without a script, no lock
// can take a stale token's place atomically, so the Manager fetches
// without it when the token is missing.

// scriptsRefused reports whether err is Redis refusing to run a script at
// all for this client, rather than a script that failed.
func scriptsRefused(err error) bool {
	var rerr redis.Error
	if !errors.As(err, &rerr) {
		return false
	}
	msg := rerr.Error()
	return (strings.HasPrefix(msg, "NOPERM") || strings.HasPrefix(msg, "ERR unknown command")) &&
		strings.Contains(strings.ToLower(msg), "'eval")
}

// plainLock is lockScript without a script: SET NX PX, and our own lock
// found counts as taken, for a resent SET.
func (s *Store) plainLock(ctx context.Context, lockKey, owner string, ttl time.Duration) (int64, error) {
	set, err := s.client.SetNX(ctx, lockKey, owner, time.Duration(milliseconds(ttl))*time.Millisecond).Result()
	if err != nil || set {
		return 1, err
	}
	v, err := s.client.Get(ctx, lockKey).Result()
	if errors.Is(err, redis.Nil) {
		return 0, nil // gone again: another holder's, just expired
	}
	if err != nil || v != owner {
		return 0, err
	}
	return 1, nil
}

// deleteIf deletes key if its value satisfies match: unlockScript and
// deleteScript without a script.
func (s *Store) deleteIf(ctx context.Context, key string, match func(v string) bool) error {
	v, err := s.client.Get(ctx, key).Result()
	if errors.Is(err, redis.Nil) {
		return nil
	}
	if err != nil || !match(v) {
		return err
	}
	return s.client.Del(ctx, key).Err()
}

// holdsToken reports whether v, a token value, holds the token stale.
func holdsToken(v, stale string) bool {
	version, rest, ok := strings.Cut(v, ";")
	if !ok || version != valueVersion {
		return false
	}
	_, token, ok := strings.Cut(rest, ";")
	return ok && token == stale
}

// plainLoad is LoadOrLock's read without its lock: Load's token under key
// if it is not staleValue; otherwise refused, the script's error, with
// which the Manager fetches without the lock.
func (s *Store) plainLoad(ctx context.Context, key, staleValue string, refused error) (dingtoken.Token, error) {
	t, err := s.Load(ctx, key)
	if err != nil || encodeValue(t) == staleValue {
		return dingtoken.Token{}, refused
	}
	return t, nil
}
