package dingtoken

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/bradfitz/gomemcache/memcache"
)

// Defaults [NewMemcacheStore] applies to a client that leaves them zero.
const (
	// DefaultMemcacheTimeout bounds each memcached read, write and dial; a
	// token cache that answers slower is worth skipping.
	DefaultMemcacheTimeout = 100 * time.Millisecond
	// DefaultMemcacheMaxIdleConns keeps enough connections for many
	// concurrent refreshes; gomemcache's own default is 2.
	DefaultMemcacheMaxIdleConns = 64
)

// memcacheKeyPrefix names this library and the layout of its values. A new
// layout takes a new version, so old and new processes never misread each
// other.
const memcacheKeyPrefix = "dingtoken:v1:"

// memcacheValueVersion starts every stored value: "dt1;<expiry unix ms>;<token>".
const memcacheValueVersion = "dt1"

// maxMemcacheExpiration: memcached reads larger expirations as absolute times.
const maxMemcacheExpiration = 30 * 24 * time.Hour

// MemcacheStore is a [Store], [TokenLocker] and [Locker] on memcached,
// shared by every process of a deployment: one process fetches a token
// under a short lock in the token's place, the others take it from
// memcached.
//
// Each key holds the token with its own expiry, so a process that loads it
// knows exactly how long it lives; memcached's expiration is set to match.
type MemcacheStore struct {
	// Logger receives what the Manager cannot see: refresh locks that could
	// not be released, which hold other processes off until they expire.
	// If nil, nothing is logged.
	Logger *slog.Logger

	client *memcache.Client
}

// NewMemcacheStore returns a Store on c. A zero c.Timeout becomes
// DefaultMemcacheTimeout, and a zero c.MaxIdleConns becomes
// DefaultMemcacheMaxIdleConns.
//
// For several memcached servers, pass memcache.New(addr1, addr2, ...): each
// key lives on one of them, and losing one costs a refetch, not a failure.
func NewMemcacheStore(c *memcache.Client) *MemcacheStore {
	if c.Timeout == 0 {
		c.Timeout = DefaultMemcacheTimeout
	}
	if c.MaxIdleConns == 0 {
		c.MaxIdleConns = DefaultMemcacheMaxIdleConns
	}
	return &MemcacheStore{client: c}
}

// Load returns the token under key, ErrNotFound if there is none or it has
// expired, or an error wrapping ErrCorruptValue if what is there does not
// decode (the Manager treats that as a miss).
func (s *MemcacheStore) Load(ctx context.Context, key string) (Token, error) {
	var item *memcache.Item
	err := bounded(ctx, func() (err error) {
		return s.retried(func() (err error) {
			item, err = s.client.Get(memcacheKey(key))
			return err
		})
	})
	if errors.Is(err, memcache.ErrCacheMiss) {
		return Token{}, ErrNotFound
	}
	if err != nil {
		return Token{}, fmt.Errorf("dingtoken: memcached load: %w", err)
	}
	t, err := decodeMemcacheValue(item.Value)
	if err != nil {
		return Token{}, fmt.Errorf("%w under %q: %v", ErrCorruptValue, key, err)
	}
	if !t.validAt(time.Now()) {
		return Token{}, ErrNotFound
	}
	return t, nil
}

// Save stores t under key until t.Expiry. An expired t is not stored.
func (s *MemcacheStore) Save(ctx context.Context, key string, t Token) error {
	exp, ok := memcacheExpiration(t.Expiry)
	if !ok {
		return nil
	}
	item := &memcache.Item{Key: memcacheKey(key), Value: encodeMemcacheValue(t), Expiration: exp}
	if err := bounded(ctx, func() error { return s.retried(func() error { return s.client.Set(item) }) }); err != nil {
		return fmt.Errorf("dingtoken: memcached save: %w", err)
	}
	return nil
}

// Delete removes the token under key if it still holds stale, with a
// gets/cas pair: a fresh token written meanwhile by another process survives.
func (s *MemcacheStore) Delete(ctx context.Context, key string, stale string) error {
	err := bounded(ctx, func() error {
		_, err := s.compareAndDelete(memcacheKey(key), func(v []byte) bool {
			t, err := decodeMemcacheValue(v)
			return err == nil && t.Value == stale
		})
		return err
	})
	if err != nil {
		return fmt.Errorf("dingtoken: memcached delete: %w", err)
	}
	return nil
}

// TryLock takes the lock for key, apart from its token, with memcached's
// add, which only one process can win; the lock expires after ttl even if
// its holder dies. When the add timed out after it was sent (its answer
// may be lost), TryLock reports the error with ok true: the lock may be
// ours, and unlock removes it if it is. Any other failure is ok false.
func (s *MemcacheStore) TryLock(ctx context.Context, key string, ttl time.Duration) (func(), bool, error) {
	lockKey := memcacheKey("lock:" + key)
	owner := []byte(newOwnerID())
	item := &memcache.Item{Key: lockKey, Value: owner, Expiration: lockExpiration(ttl)}
	err := bounded(ctx, func() error { return s.addLock(item) })
	if errors.Is(err, memcache.ErrNotStored) {
		return nil, false, nil
	}
	if err != nil {
		err = fmt.Errorf("dingtoken: memcached lock: %w", err)
		if !addMayHaveLanded(err) {
			return nil, false, err
		}
		// The add may have reached memcached and only its reply been lost:
		// then the lock is ours, and other processes wait for our token.
		// So the caller acts as the holder, and unlock removes the lock if
		// it is ours.
		return func() { s.releaseLock(lockKey, owner, true) }, true, err
	}
	return func() { s.releaseLock(lockKey, owner, false) }, true, nil
}

// addLock adds item, a lock, as TryLock does. An add tried again on a new
// connection and refused may have been refused because the first one took
// the lock: then the lock is ours.
func (s *MemcacheStore) addLock(item *memcache.Item) error {
	again := false
	err := s.retried(func() error {
		err := s.client.Add(item)
		if again && errors.Is(err, memcache.ErrNotStored) {
			if found, gerr := s.client.Get(item.Key); gerr == nil && string(found.Value) == string(item.Value) {
				return nil
			}
		}
		again = true
		return err
	})
	return err
}

// addMayHaveLanded reports whether an add that failed with err may have
// reached memcached: it timed out after the connection was made. A refused
// or timed-out connection, or an error answer, sent nothing that took.
func addMayHaveLanded(err error) bool {
	var connect *memcache.ConnectTimeoutError
	return isTimeout(err) && !errors.As(err, &connect)
}

// releaseLock deletes the lock under lockKey if owner still holds it (after
// its TTL, another process may hold a new one), trying again after a failure.
// After an add whose reply was lost, a miss is tried once more, in case the
// add reaches memcached after the first look.
func (s *MemcacheStore) releaseLock(lockKey string, owner []byte, uncertain bool) {
	pause := 2 * s.client.Timeout
	var err error
	for attempt := range releaseAttempts {
		if attempt > 0 {
			time.Sleep(pause << (attempt - 1))
		}
		var deleted bool
		deleted, err = s.compareAndDelete(lockKey, func(v []byte) bool { return string(v) == string(owner) })
		if err == nil && (deleted || !uncertain || attempt > 0) {
			return
		}
	}
	if s.Logger != nil {
		s.Logger.Warn("dingtoken: could not release the refresh lock; other processes wait until it expires",
			"key", lockKey, "err", err)
	}
}

// releaseAttempts bounds how often releaseLock tries.
const releaseAttempts = 3

// compareAndDelete deletes key if its value satisfies match and is unchanged
// between the read and the delete, and reports whether it did. memcached has
// no conditional delete, so this is a cas that writes an already-expired item.
// An item written between the read and the cas is read again: a lock's
// extension rewrites it with the same value, and must not save the lock
// from its release.
func (s *MemcacheStore) compareAndDelete(key string, match func([]byte) bool) (deleted bool, err error) {
	for range casAttempts {
		var item *memcache.Item
		err := s.retried(func() (err error) {
			item, err = s.client.Get(key)
			return err
		})
		if errors.Is(err, memcache.ErrCacheMiss) {
			return false, nil
		}
		if err != nil {
			return false, err
		}
		if !match(item.Value) {
			return false, nil
		}
		item.Value, item.Expiration = nil, -1
		err = s.retried(func() error { return s.client.CompareAndSwap(item) })
		if errors.Is(err, memcache.ErrCASConflict) {
			continue
		}
		if errors.Is(err, memcache.ErrNotStored) || errors.Is(err, memcache.ErrCacheMiss) {
			return false, nil // gone meanwhile
		}
		return err == nil, err
	}
	return false, nil // rewritten on every look: another process is at work
}

// casAttempts bounds the looks of a compare-and-delete at a key that keeps
// being rewritten.
const casAttempts = 3

// bounded runs a memcached call, returning early when ctx ends. gomemcache
// takes no context; its own Timeout ends the call soon after.
func bounded(ctx context.Context, call func() error) error {
	if ctx.Done() == nil {
		return call()
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	done := make(chan error, 1)
	go func() { done <- call() }()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// memcacheKey maps a fetcher key to a legal memcached key: the prefix and the
// key itself where possible, else the prefix and the key's SHA-256.
func memcacheKey(key string) string {
	k := memcacheKeyPrefix + key
	if len(k) <= 250 && !strings.ContainsFunc(k, func(r rune) bool { return r <= ' ' || r == 0x7f }) {
		return k
	}
	sum := sha256.Sum256([]byte(key))
	return memcacheKeyPrefix + "sha256:" + hex.EncodeToString(sum[:])
}

// memcacheExpiration returns memcached's relative expiration for a token
// that expires at expiry, rounded up and capped; ok is false if it has expired.
// memcached's clock ticks in whole seconds, so an item may go up to a second
// before its expiration: one more second keeps the token until its expiry.
func memcacheExpiration(expiry time.Time) (int32, bool) {
	left := time.Until(expiry)
	if left <= 0 {
		return 0, false
	}
	return int32(math.Ceil(min(left+time.Second, maxMemcacheExpiration).Seconds())), true
}

func encodeMemcacheValue(t Token) []byte {
	return []byte(memcacheValueVersion + ";" + strconv.FormatInt(t.Expiry.UnixMilli(), 10) + ";" + t.Value)
}

// decodeMemcacheValue reads what encodeMemcacheValue wrote, and nothing else.
func decodeMemcacheValue(v []byte) (Token, error) {
	version, rest, ok := strings.Cut(string(v), ";")
	if !ok || version != memcacheValueVersion {
		return Token{}, errors.New("unknown layout")
	}
	ms, value, ok := strings.Cut(rest, ";")
	if !ok {
		return Token{}, errors.New("no expiry")
	}
	expiry, err := strconv.ParseInt(ms, 10, 64)
	if err != nil || expiry <= 0 || strconv.FormatInt(expiry, 10) != ms {
		return Token{}, errors.New("bad expiry")
	}
	if value == "" || strings.ContainsFunc(value, func(r rune) bool { return r <= ' ' || r == 0x7f || r == ';' }) {
		return Token{}, errors.New("bad token")
	}
	return Token{Value: value, Expiry: time.UnixMilli(expiry)}, nil
}
