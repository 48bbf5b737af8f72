// Package redisstore is a [dingtoken.Store], [dingtoken.TokenLocker] and
// [dingtoken.Locker] on Redis, through go-redis v9: a single node, a
// Sentinel-managed primary or a Redis Cluster, whatever
// [redis.UniversalClient] is given.
//
//	rdb := redis.NewClient(&redis.Options{Addr: "10.0.0.5:6379", ContextTimeoutEnabled: true})
//	manager := &dingtoken.Manager{Store: redisstore.New(rdb)}
//
// Every process of a deployment that points at the same Redis uses one
// token: one of them fetches it under a short lock, the others take it from
// Redis with its real expiry. Every command touches one key (the Lua scripts
// included), so the Store works unchanged on Redis Cluster.
//
// Redis is best effort: each call gives up after [Store.Timeout], and a
// Redis that is down, slow, flushed or failing over costs the Manager a
// refetch and a StoreErrors count, never a failed request.
package redisstore

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"time"

	"github.com/dingtoken/dingtoken"
	"github.com/redis/go-redis/v9"
)

// Defaults for the zero fields of a [Store].
const (
	// DefaultPrefix starts every key: it names this library and the layout
	// of its values, the same as dingtoken.MemcacheStore's.
	DefaultPrefix = "dingtoken:v1:"
	// DefaultTimeout bounds each call to Redis, go-redis's retries and
	// Cluster redirections included. A token cache that answers slower is
	// worth skipping.
	DefaultTimeout = 200 * time.Millisecond
)

// ErrCorruptValue is [dingtoken.ErrCorruptValue], wrapped by [Store.Load]
// when the value under a key does not decode; the Manager and
// [dingtoken.SuiteTickets] log and count it, treat it as a miss, and
// replace the value.
var ErrCorruptValue = dingtoken.ErrCorruptValue

// Store is a [dingtoken.Store], [dingtoken.TokenLocker] and
// [dingtoken.Locker] on Redis. Set its fields before first use; the zero
// values are the defaults.
//
// Each token lives under Prefix + the fetcher key, as
// "dt1;<expiry, Unix ms>;<token>", and Redis expires it with the token.
// While a process fetches it, the Manager's refresh lock takes its place
// (see LoadOrLock). The lock TryLock takes lives under Prefix + "lock:" +
// the key.
type Store struct {
	// Prefix starts every key this Store reads and writes. If empty,
	// DefaultPrefix is used. Give deployments that share a Redis but must
	// not share tokens different prefixes. A prefix with a Cluster hash tag
	// ("{...}") puts every key on one node, which nothing here needs.
	Prefix string
	// Timeout bounds each call to Redis, including the release of a lock.
	// If zero, DefaultTimeout is used. The caller's context (the Manager's
	// StoreTimeout) can end a call sooner.
	Timeout time.Duration
	// Logger receives what the Manager cannot see: refresh locks that could
	// not be released, which hold other processes off until they expire.
	// If nil, nothing is logged.
	Logger *slog.Logger

	client redis.UniversalClient
}

// New returns a Store on c: a *redis.Client (also from
// redis.NewFailoverClient, for Sentinel), a *redis.ClusterClient or a
// *redis.Ring.
//
// For c, set ContextTimeoutEnabled: then a call abandoned at the Store's
// Timeout also gives up its connection at once, instead of holding it until
// go-redis's ReadTimeout. The Store returns at its Timeout either way.
func New(c redis.UniversalClient) *Store {
	return &Store{client: c}
}

// Load returns the token under key, dingtoken.ErrNotFound if there is none
// or it has expired, or an error wrapping ErrCorruptValue if the value does
// not decode or the key is not a string.
func (s *Store) Load(ctx context.Context, key string) (dingtoken.Token, error) {
	var v string
	err := s.call(ctx, func(ctx context.Context) (err error) {
		v, err = s.client.Get(ctx, s.tokenKey(key)).Result()
		return err
	})
	if errors.Is(err, redis.Nil) {
		return dingtoken.Token{}, dingtoken.ErrNotFound
	}
	if redis.HasErrorPrefix(err, "WRONGTYPE") { // a hash or a list, say, which a Save replaces
		return dingtoken.Token{}, fmt.Errorf("%w under %q: a key of another type", ErrCorruptValue, key)
	}
	if err != nil {
		return dingtoken.Token{}, fmt.Errorf("dingtoken: redis load: %w", err)
	}
	t, err := decodeValue(v)
	if err != nil {
		return dingtoken.Token{}, fmt.Errorf("%w under %q: %v", ErrCorruptValue, key, err)
	}
	if !time.Now().Before(t.Expiry) {
		return dingtoken.Token{}, dingtoken.ErrNotFound
	}
	return t, nil
}

// Save stores t under key, and has Redis expire it when t expires. An
// expired t is not stored.
func (s *Store) Save(ctx context.Context, key string, t dingtoken.Token) error {
	left := time.Until(t.Expiry)
	if left <= 0 {
		return nil
	}
	// Rounded up to Redis's millisecond, so that Redis never drops a token
	// before the expiry its value states.
	px := (left + time.Millisecond - 1).Truncate(time.Millisecond)
	err := s.call(ctx, func(ctx context.Context) error {
		return s.client.Set(ctx, s.tokenKey(key), encodeValue(t), px).Err()
	})
	if err != nil {
		return fmt.Errorf("dingtoken: redis save: %w", err)
	}
	return nil
}

// Delete removes the token under key if it is still stale, in one script on
// the key: a fresh token another process saved meanwhile survives.
func (s *Store) Delete(ctx context.Context, key string, stale string) error {
	err := s.call(ctx, func(ctx context.Context) error {
		err := deleteScript.Run(ctx, s.client, []string{s.tokenKey(key)}, stale).Err()
		if scriptsRefused(err) {
			err = s.deleteIf(ctx, s.tokenKey(key), func(v string) bool { return holdsToken(v, stale) })
		}
		return err
	})
	if err != nil {
		return fmt.Errorf("dingtoken: redis delete: %w", err)
	}
	return nil
}

// TryLock takes the lock for key (SET NX PX with a random owner id),
// which only one process can hold; it expires after ttl even if its holder
// dies. unlock releases it only if this owner still holds it.
//
// When Redis's answer does not come (a timeout, ctx cancelled while the
// script was on its way, or the connection lost after the script was
// written and not resent: a client with MaxRetries -1, or retries used up),
// the lock may have been taken nonetheless: TryLock then reports the error
// with ok true, so that the caller acts as the holder, and unlock removes
// the lock if it is ours. A failure that sent nothing (a refused
// connection, a closed client) or an error reply is ok false. (An answer
// lost with its connection is usually resent by go-redis, and the script
// counts a lock its owner already holds as taken.) On a Redis that runs no
// script for this client (an ACL user without @scripting, EVAL renamed), the
// lock is SET NX PX and its release a GET and a DEL.
func (s *Store) TryLock(ctx context.Context, key string, ttl time.Duration) (unlock func(), ok bool, err error) {
	if err := ctx.Err(); err != nil {
		return nil, false, fmt.Errorf("dingtoken: redis lock: %w", err) // nothing sent
	}
	lockKey, owner := s.lockKey(key), newOwnerID()
	var got int64
	finished, err := s.track(ctx, func(ctx context.Context) (err error) {
		got, err = lockScript.Run(ctx, s.client, []string{lockKey}, owner, milliseconds(ttl)).Int64()
		if scriptsRefused(err) {
			got, err = s.plainLock(ctx, lockKey, owner, ttl)
		}
		return err
	})
	if err != nil {
		err = fmt.Errorf("dingtoken: redis lock: %w", err)
		if !mayHaveLanded(err) {
			return nil, false, err
		}
		return func() { s.releaseLate(lockKey, owner, finished) }, true, err
	}
	unlock = func() { s.release(lockKey, owner) }
	if got != 1 {
		return nil, false, nil
	}
	return unlock, true, nil
}

// mayHaveLanded reports whether a script call that failed with err may
// have run on Redis: it timed out or was cancelled in flight, or its
// connection failed after the script was written (EOF, a reset), so its
// answer may be what was lost. A refused connection (a dial error), a
// closed client or an error reply ran nothing.
func mayHaveLanded(err error) bool {
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) ||
		errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return true
	}
	var netErr net.Error
	if errors.As(err, &netErr) && netErr.Timeout() {
		return true
	}
	var opErr *net.OpError
	return errors.As(err, &opErr) && opErr.Op != "dial"
}

// release tries releaseAttempts times, pausing releasePause, then twice
// that, between attempts.
const (
	releaseAttempts = 3
	releasePause    = 100 * time.Millisecond
)

// maxLateScript bounds how long the release of a lock whose script was
// maybe sent waits for go-redis to give the script up: its dial, read and
// write timeouts, 5 s and 3 s by default, are longer than any Timeout.
const maxLateScript = 15 * time.Second

// releaseLate is release for a lock whose script's answer did not come in
// time: it waits until go-redis has returned from the script (finished),
// which may still have been sent after the Store gave up, so that the
// release does not look before the lock is there.
func (s *Store) releaseLate(lockKey, owner string, finished <-chan struct{}) {
	wait := time.NewTimer(maxLateScript)
	defer wait.Stop()
	select {
	case <-finished:
	case <-wait.C:
	}
	s.release(lockKey, owner)
}

// release deletes the lock under lockKey if owner holds it, trying again
// after a failure: a lock left behind holds other processes off.
func (s *Store) release(lockKey, owner string) {
	var err error
	for attempt := range releaseAttempts {
		if attempt > 0 {
			time.Sleep(releasePause << (attempt - 1))
		}
		err = s.call(context.Background(), func(ctx context.Context) error {
			err := unlockScript.Run(ctx, s.client, []string{lockKey}, owner).Err()
			if scriptsRefused(err) {
				err = s.deleteIf(ctx, lockKey, func(v string) bool { return v == owner })
			}
			return err
		})
		if err == nil || errors.Is(err, redis.ErrClosed) {
			return
		}
	}
	if s.Logger != nil {
		s.Logger.Warn("dingtoken: could not release the refresh lock; other processes wait until it expires",
			"key", lockKey, "err", err)
	}
}

// call runs one Redis operation within the Store's Timeout and ctx, and
// returns when they end even if go-redis has not: without the client's
// ContextTimeoutEnabled, go-redis waits for a slow reply until its own
// ReadTimeout (5 s by default). go-redis checks the context between its
// retries and redirections, so none of them outlasts the call.
func (s *Store) call(ctx context.Context, op func(context.Context) error) error {
	_, err := s.track(ctx, op)
	return err
}

// track is call, also returning a channel closed once go-redis has returned
// from op. A call that gave up may still be sent after that: without the
// client's ContextTimeoutEnabled, a new connection's handshake is not bound
// by ctx, and the command goes out when the handshake answers. Only once
// go-redis has returned is it known whether a lock script ran.
func (s *Store) track(ctx context.Context, op func(context.Context) error) (<-chan struct{}, error) {
	finished := make(chan struct{})
	if err := ctx.Err(); err != nil {
		close(finished)
		return finished, err
	}
	ctx, cancel := context.WithTimeout(ctx, s.timeout())
	// Ended on return, not as op returns: ending it then would let the
	// select below pick, at random, its end over op's answer.
	defer cancel()
	done := make(chan error, 1)
	go func() {
		defer close(finished)
		done <- op(ctx)
	}()
	var err error
	select {
	case err = <-done:
	case <-ctx.Done():
		// The deadline and op's answer can come at once: the answer wins,
		// or a lock taken would be reported as maybe not.
		select {
		case err = <-done:
		default:
			err = ctx.Err()
		}
	}
	s.reloadSlotsAfter(err)
	return finished, err
}

func (s *Store) timeout() time.Duration {
	if s.Timeout > 0 {
		return s.Timeout
	}
	return DefaultTimeout
}

func (s *Store) prefix() string {
	if s.Prefix != "" {
		return s.Prefix
	}
	return DefaultPrefix
}

func (s *Store) tokenKey(key string) string { return s.prefix() + key }
func (s *Store) lockKey(key string) string  { return s.prefix() + "lock:" + key }

// newOwnerID returns a random id that tells lock holders apart.
func newOwnerID() string {
	var b [16]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
