package redisstore

import (
	"context"
	"testing"
	"time"

	"github.com/dingtoken/dingtoken/internal/redistest"
	"github.com/redis/go-redis/v9"
)

// TestCancelledLockIsReleased: a lock call whose context is cancelled after
// its script reached Redis, before the answer (a SuiteTickets.Put whose
// HTTP callback was abandoned, a caller gone), reports the lock as maybe
// ours, and its release removes the lock the script took: otherwise every
// replica waits out its ttl.
func TestCancelledLockIsReleased(t *testing.T) {
	for _, k := range lockKinds {
		t.Run(k.name, func(t *testing.T) {
			srv, proxy, s := warmStoreBehindProxy(t, 3*time.Second)
			arrived := proxy.HoldNextAnswer(time.Second)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			go func() {
				<-arrived // the script has run; its answer is held
				cancel()
			}()
			unlock, ok, err := k.take(ctx, s, "app:cancelled")
			if err == nil || !ok || unlock == nil {
				t.Fatalf("%s cancelled before its answer = %v, %v; want the error, and the lock as maybe ours", k.name, ok, err)
			}
			key := k.where(s, "app:cancelled")
			if n, err := srv.Do("EXISTS", key); err != nil || n != int64(1) {
				t.Fatalf("the cancelled %s's lock: EXISTS = %v, %v; want 1, taken", k.name, n, err)
			}
			unlock()
			if n, err := srv.Do("EXISTS", key); err != nil || n != int64(0) {
				t.Errorf("after the %s's release: EXISTS = %v, %v; want 0", k.name, n, err)
			}
		})
	}
}

// TestLostLockAnswerWithoutRetries: on a client that does not resend
// (MaxRetries: -1, which the README suggests against an unreachable
// Redis), Redis takes the lock and its answer is lost with the connection.
// The lock is reported with the error, as maybe ours, and its release
// removes it, rather than leaving it to hold the other processes off.
func TestLostLockAnswerWithoutRetries(t *testing.T) {
	for _, k := range lockKinds {
		t.Run(k.name, func(t *testing.T) {
			srv := redistest.Start(t)
			proxy := redistest.NewProxy(t, srv.Addr)
			c := newClientWith(t, &redis.Options{Addr: proxy.Addr, ContextTimeoutEnabled: true, MaxRetries: -1})
			s := newStore(t, c, uniquePrefix(), countTimeout)
			warm(t, s)
			proxy.CutNextAnswer()
			unlock, ok, err := k.take(context.Background(), s, "app:lost")
			if err == nil || !ok || unlock == nil {
				t.Fatalf("%s whose answer was lost = %v, %v; want the error, and the lock as maybe ours", k.name, ok, err)
			}
			if n, err := srv.Do("EXISTS", k.where(s, "app:lost")); err != nil || n != int64(1) {
				t.Fatalf("the %s's lock: EXISTS = %v, %v; want 1, taken", k.name, n, err)
			}
			unlock()
			if n, err := srv.Do("EXISTS", k.where(s, "app:lost")); err != nil || n != int64(0) {
				t.Errorf("after unlock: EXISTS = %v, %v; want 0", n, err)
			}
		})
	}
}
