package redisstore

import (
	"context"
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/dingtoken/dingtoken/internal/redistest"
	"github.com/redis/go-redis/v9"
)

// TestLateLockScriptIsReleased: on a client without ContextTimeoutEnabled
// (go-redis's default), a lock call on a new connection whose handshake
// answers late gives up at the Store's Timeout before its script is even
// sent; go-redis sends it once the handshake answers. The holder's fetch
// failed, so its release is all that removes the lock: it must not look
// before the script has run, and find nothing, and leave the lock to hold
// every other process off for its ttl. So for TryLock, the lock of a Store
// used as a Locker apart from its tokens (and SuiteTickets.Put's), and for
// LoadOrLock.
func TestLateLockScriptIsReleased(t *testing.T) {
	for _, k := range lockKinds {
		t.Run(k.name, func(t *testing.T) {
			srv := redistest.Start(t)
			proxy := redistest.NewProxy(t, srv.Addr)
			c := newClientWith(t, &redis.Options{Addr: proxy.Addr})
			s := newStore(t, c, uniquePrefix(), 300*time.Millisecond)
			// Another process has run the scripts before: Redis has them cached.
			warm(t, newStore(t, newClient(t, srv.Addr), s.Prefix, countTimeout))
			before := cachedScriptRuns(t, srv)

			proxy.HoldNextAnswer(time.Second) // the new connection's handshake
			unlock, ok, err := k.take(context.Background(), s, "app:late-script")
			if err == nil || !ok || unlock == nil {
				t.Fatalf("%s = %v, %v; want the error, and the lock as maybe ours", k.name, ok, err)
			}
			unlock() // the fetch failed: nothing saved, the lock goes back
			// Both scripts, the late lock and the release, ran from the cache.
			waitFor(t, "the late script and the release to run", func() bool { return cachedScriptRuns(t, srv) >= before+2 })
			if n, err := srv.Do("EXISTS", k.where(s, "app:late-script")); err != nil || n != int64(0) {
				t.Errorf("after the release: EXISTS = %v, %v; want 0, no lock left for its ttl", n, err)
			}
		})
	}
}

// cachedScriptRuns counts the EVALSHA calls srv ran: the scripts it had
// cached. The first call of each script failed, and was sent as EVAL.
func cachedScriptRuns(t *testing.T, srv *redistest.Server) int {
	t.Helper()
	stats, err := srv.Do("INFO", "commandstats")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`cmdstat_evalsha:calls=(\d+),.*failed_calls=(\d+)`).FindStringSubmatch(stats.(string))
	if m == nil {
		return 0
	}
	calls, _ := strconv.Atoi(m[1])
	failed, _ := strconv.Atoi(m[2])
	return calls - failed
}
