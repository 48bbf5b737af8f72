package redisstore

import (
	"context"
	"testing"
	"time"

	"github.com/dingtoken/dingtoken"
	"github.com/dingtoken/dingtoken/internal/redistest"
	"github.com/redis/go-redis/v9"
)

// TestSuiteTicketsPutWithALateLockAnswerReturns: a Put whose lock's answer
// comes later than the Store's Timeout, on a client without
// ContextTimeoutEnabled (go-redis's default), reports the error within its
// context's time: the release of the lock that is maybe its own must not
// hold the caller (an event handler) until go-redis gives the script up.
func TestSuiteTicketsPutWithALateLockAnswerReturns(t *testing.T) {
	srv := redistest.Start(t)
	proxy := redistest.NewProxy(t, srv.Addr)
	c := newClientWith(t, &redis.Options{Addr: proxy.Addr, ReadTimeout: 12 * time.Second})
	s := newStore(t, c, uniquePrefix(), 300*time.Millisecond)
	warm(t, s)
	tickets := &dingtoken.SuiteTickets{SuiteKey: "suite-late", SuiteSecret: "suite-secret-7b", Store: s}

	arrived := proxy.HoldNextAnswer(8 * time.Second) // the lock's answer
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	start := time.Now()
	err := tickets.Put(ctx, "ticket-late-lock", time.Now())
	took := time.Since(start)
	if err == nil {
		t.Errorf("Put whose lock answered late = nil; want the lock's error")
	}
	if took > 4*time.Second {
		t.Errorf("Put took %v with a context of 1 s; want it back well before the held answer (8 s)", took)
	}
	<-arrived
	// The lock the late script took goes, once go-redis has its answer.
	waitFor(t, "the lock to be released", func() bool {
		n, err := srv.Do("EXISTS", s.lockKey("suite-ticket:suite-late"))
		return err == nil && n == int64(0)
	})
}
