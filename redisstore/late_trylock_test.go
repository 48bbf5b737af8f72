package redisstore

import (
	"context"
	"testing"
	"time"

	"github.com/dingtoken/dingtoken/internal/redistest"
	"github.com/redis/go-redis/v9"
)

// TestLateTryLockScriptIsReleased is TestLateLockScriptIsReleased for
// TryLock, the lock of a Store used as a Locker apart from its tokens (and
// SuiteTickets.Put's): its release, too, must wait until go-redis has
// returned from a script it sent after the Store gave up.
func TestLateTryLockScriptIsReleased(t *testing.T) {
	srv := redistest.Start(t)
	proxy := redistest.NewProxy(t, srv.Addr)
	c := redis.NewClient(&redis.Options{Addr: proxy.Addr})
	t.Cleanup(func() { c.Close() })
	s := newStore(t, c, uniquePrefix(), 300*time.Millisecond)
	// Another process has run the scripts before: Redis has them cached.
	warm(t, newStore(t, newClient(t, srv.Addr), s.Prefix, countTimeout))
	before := cachedScriptRuns(t, srv)

	proxy.HoldNextAnswer(time.Second) // the new connection's handshake
	unlock, ok, err := s.TryLock(context.Background(), "app:late-trylock", time.Minute)
	if err == nil || !ok || unlock == nil {
		t.Fatalf("TryLock = %v, %v; want the error, and the lock as maybe ours", ok, err)
	}
	unlock() // the fetch failed: nothing saved, the lock goes back
	// Both scripts, the late lock and the release, ran from the cache.
	waitFor(t, "the late script and the release to run", func() bool { return cachedScriptRuns(t, srv) >= before+2 })
	if n, err := srv.Do("EXISTS", s.lockKey("app:late-trylock")); err != nil || n != int64(0) {
		t.Errorf("after the release: EXISTS = %v, %v; want 0, no lock left for its ttl", n, err)
	}
}
