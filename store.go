package dingtoken

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"sync"
	"time"
)

// ErrNotFound is returned by [Store.Load] when the store holds no token for
// the key.
var ErrNotFound = errors.New("dingtoken: token not in store")

// ErrCorruptValue is wrapped by a [Store]'s Load, and a [TokenLocker]'s
// LoadOrLock, when the value under a key does not decode. The Manager and
// [SuiteTickets] log and count it, treat it as a miss, and replace the
// value; a Store of another package wraps it to get the same.
var ErrCorruptValue = errors.New("dingtoken: stored value does not decode")

// Store is the shared second-level cache (L2) that lets the processes of a
// deployment use one token. The [Manager] treats it as best effort: every
// error is logged and counted, and the manager goes on without it.
// Implementations must be safe for concurrent use and should return promptly
// when ctx is done.
type Store interface {
	// Load returns the token stored under key, or ErrNotFound.
	Load(ctx context.Context, key string) (Token, error)
	// Save stores t under key until t.Expiry.
	Save(ctx context.Context, key string, t Token) error
	// Delete removes the token under key only if its value is still stale,
	// so that a fresh token another process saved meanwhile survives.
	Delete(ctx context.Context, key string, stale string) error
}

// Locker is implemented by a [Store] that can hold a short cluster-wide
// lock. With it, one process of a deployment fetches a token while the
// others wait for it to appear in the store.
type Locker interface {
	// TryLock takes the lock for key for at most ttl without waiting. ok is
	// false when another holder has it; unlock releases it only if it is
	// still ours, and should try again briefly if that fails, since a lock
	// left behind holds other processes off until it expires.
	//
	// When the store may have taken the lock without saying so (its answer
	// was lost), TryLock returns the error with ok true and an unlock: the
	// caller then acts as the holder, and unlock removes the lock if it is
	// ours.
	TryLock(ctx context.Context, key string, ttl time.Duration) (unlock func(), ok bool, err error)
}

// TokenLocker is implemented by a [Store] whose refresh lock for a key can
// sit in the key's own place, instead of the token. One call then finds the
// token or takes the lock, atomically, and the token's Save ends the lock:
// a refresh costs one round trip to the Store before its fetch and one
// after, where a [Locker] needs three (the lock's holder must look again for
// a token saved between its load and its lock). [MemcacheStore] and
// redisstore's Store are TokenLockers; for other Stores the Manager uses
// Locker.
//
// The lock is for the Manager's refreshes only: Load reports a key that
// holds it as ErrNotFound, Save replaces it, Delete leaves it alone, and a
// Locker's TryLock of the same key is another lock.
type TokenLocker interface {
	// LoadOrLock returns the token stored under key, and a nil lock, if it
	// has not expired and is not stale. If another holder has key's lock,
	// or what is there keeps changing under it (another process is at
	// work), it returns a zero Token, a nil lock and no error. Otherwise
	// (nothing stored, an expired token, the stale one, or a value that
	// does not decode) it puts the lock, for at most ttl, in place of what
	// is there, if that is unchanged, and returns it.
	//
	// The stored token is stale only if both its Value and its Expiry, to
	// the millisecond, are stale's; the zero Token names none. The same
	// Value with a later Expiry is a fresh token: DingTalk hands out a
	// token again, its life extended, to whoever asks before it expires.
	//
	// When it holds the lock, or may, despite a failure, LoadOrLock
	// returns the error with the lock: as with TryLock, when its answer
	// was lost to a timeout or its context ended first; and when the value
	// it replaced did not decode.
	LoadOrLock(ctx context.Context, key string, stale Token, ttl time.Duration) (Token, *HeldLock, error)
}

// HeldLock is a refresh lock a [TokenLocker] took in a token's place.
type HeldLock struct {
	// Unlock removes the lock if it is still there and its holder's; after
	// the token's Save there is nothing to remove.
	Unlock func()
	// Extend makes the lock live ttl from now, if it is still there and
	// its holder's, so that a fetch slower than the lock's ttl keeps it;
	// it returns an error if the lock is gone. Nil if the Store cannot.
	Extend func(ctx context.Context, ttl time.Duration) error
}

// MemoryStore is a [Store] and [Locker] held in this process's memory. It is
// meant for tests, and for sharing tokens between Managers of one process.
// The zero value is ready to use.
type MemoryStore struct {
	mu     sync.Mutex
	tokens map[string]Token    // guarded by mu; lazily initialised
	locks  map[string]heldLock // guarded by mu; lazily initialised
}

type heldLock struct {
	owner string
	until time.Time
}

// NewMemoryStore returns an empty MemoryStore.
func NewMemoryStore() *MemoryStore { return &MemoryStore{} }

// Load returns the unexpired token under key, or ErrNotFound.
func (s *MemoryStore) Load(ctx context.Context, key string) (Token, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	t, ok := s.tokens[key]
	if !ok || !t.validAt(time.Now()) {
		return Token{}, ErrNotFound
	}
	return t, nil
}

// Save stores t under key.
func (s *MemoryStore) Save(ctx context.Context, key string, t Token) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.tokens == nil {
		s.tokens = make(map[string]Token)
	}
	s.tokens[key] = t
	return nil
}

// Delete removes the token under key if its value is stale.
func (s *MemoryStore) Delete(ctx context.Context, key string, stale string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if t, ok := s.tokens[key]; ok && t.Value == stale {
		delete(s.tokens, key)
	}
	return nil
}

// TryLock takes the lock for key unless another unexpired holder has it.
func (s *MemoryStore) TryLock(ctx context.Context, key string, ttl time.Duration) (func(), bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := time.Now()
	if l, ok := s.locks[key]; ok && now.Before(l.until) {
		return nil, false, nil
	}
	if s.locks == nil {
		s.locks = make(map[string]heldLock)
	}
	owner := newOwnerID()
	s.locks[key] = heldLock{owner: owner, until: now.Add(ttl)}
	return func() {
		s.mu.Lock()
		defer s.mu.Unlock()
		if s.locks[key].owner == owner {
			delete(s.locks, key)
		}
	}, true, nil
}

// newOwnerID returns a random id that tells lock holders apart.
func newOwnerID() string {
	var b [12]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
