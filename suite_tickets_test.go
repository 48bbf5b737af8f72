package dingtoken

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bradfitz/gomemcache/memcache"
	"github.com/dingtoken/dingtoken/internal/memcachedtest"
)

// replicaTickets returns a SuiteTickets of its own on its own memcached
// client, as a replica of a service would have.
func replicaTickets(addr string) *SuiteTickets {
	return &SuiteTickets{SuiteKey: testSuiteKey, SuiteSecret: testSuiteSecret, Store: NewMemcacheStore(patientMemcache(addr))}
}

func TestSuiteTicketsKeepTheNewestInOneProcess(t *testing.T) {
	ctx := context.Background()
	s := &SuiteTickets{SuiteKey: testSuiteKey}
	if _, err := s.Ticket(ctx); !errors.Is(err, ErrNoSuiteTicket) {
		t.Errorf("before any push: err = %v, want ErrNoSuiteTicket", err)
	}
	base := time.Now().Add(-time.Hour)
	for _, p := range []struct {
		ticket string
		at     time.Time
	}{{"ticket-b", base.Add(2 * time.Second)}, {"ticket-a", base.Add(time.Second)}, {"ticket-c", base.Add(3 * time.Second)}, {"ticket-0", base}} {
		if err := s.Put(ctx, p.ticket, p.at); err != nil {
			t.Fatal(err)
		}
	}
	if got, err := s.Ticket(ctx); err != nil || got != "ticket-c" {
		t.Errorf("Ticket() = %q, %v; want the one pushed last, ticket-c", got, err)
	}
	for _, bad := range []string{"", "has space", "ctl\x01"} {
		if err := s.Put(ctx, bad, time.Now()); err == nil || !strings.HasPrefix(err.Error(), "dingtoken: ") {
			t.Errorf("Put(%q): err = %v, want a dingtoken error", bad, err)
		}
	}
}

// TestSuiteTicketsSharedAndSealed: a ticket put on one replica reaches the
// others through memcached, sealed; a replica that has seen a newer push
// never lets an older one replace it.
func TestSuiteTicketsSharedAndSealed(t *testing.T) {
	ctx := context.Background()
	mc := memcachedtest.Start(t)
	a, b := replicaTickets(mc.Addr), replicaTickets(mc.Addr)
	now := time.Now()
	if err := a.Put(ctx, "ticket-new-7f3a", now); err != nil {
		t.Fatal(err)
	}
	if got, err := b.Ticket(ctx); err != nil || got != "ticket-new-7f3a" {
		t.Errorf("other replica: %q, %v", got, err)
	}
	item, err := patientMemcache(mc.Addr).Get(memcacheKey("suite-ticket:" + testSuiteKey))
	if err != nil {
		t.Fatal(err)
	}
	if v := string(item.Value); strings.Contains(v, "ticket-new-7f3a") || !strings.Contains(v, sealedPrefix) {
		t.Errorf("stored value %q: want the ticket sealed", v)
	}

	// A late or replayed push of an older ticket, on a replica that never saw the newer one.
	c := replicaTickets(mc.Addr)
	if err := c.Put(ctx, "ticket-old-11aa", now.Add(-5*time.Hour)); err != nil {
		t.Fatal(err)
	}
	for name, s := range map[string]*SuiteTickets{"a": a, "b": b, "c": c, "new": replicaTickets(mc.Addr)} {
		if got, err := s.Ticket(ctx); err != nil || got != "ticket-new-7f3a" {
			t.Errorf("replica %s after a stale Put: %q, %v; want the newer ticket", name, got, err)
		}
	}

	// Another suite secret opens nothing, and its Put replaces what it cannot read.
	other := replicaTickets(mc.Addr)
	other.SuiteSecret = "another-secret"
	if _, err := other.Ticket(ctx); !errors.Is(err, ErrNoSuiteTicket) {
		t.Errorf("another secret: err = %v, want ErrNoSuiteTicket", err)
	}
}

// TestSuiteTicketsReplaceASpoiltValue: whatever sits under the suite
// ticket's key in memcached, a Put replaces it and every replica reads the
// ticket put; a value that does not decode must not keep the ticket out of
// the Store for good.
func TestSuiteTicketsReplaceASpoiltValue(t *testing.T) {
	ctx := context.Background()
	mc := memcachedtest.Start(t)
	for _, spoilt := range []string{"dt9;1;tok", "dt1;notanumber;tok", "\x00\xff\xfe"} {
		raw := patientMemcache(mc.Addr)
		if err := raw.Set(&memcache.Item{Key: memcacheKey("suite-ticket:" + testSuiteKey), Value: []byte(spoilt)}); err != nil {
			t.Fatal(err)
		}
		if err := replicaTickets(mc.Addr).Put(ctx, "ticket-after-spoil", time.Now()); err != nil {
			t.Errorf("Put over %q: %v; want it replaced", spoilt, err)
		}
		if got, err := replicaTickets(mc.Addr).Ticket(ctx); err != nil || got != "ticket-after-spoil" {
			t.Errorf("after %q, another replica reads %q, %v; want ticket-after-spoil", spoilt, got, err)
		}
	}
}

// TestSuiteTicketsRacingPutsKeepTheNewest: six replicas, each with its own
// memcached connection, put tickets at the same moment, round after round,
// each round in another order. After every round, every replica and a new
// one read the ticket with the latest push time.
func TestSuiteTicketsRacingPutsKeepTheNewest(t *testing.T) {
	ctx := context.Background()
	mc := memcachedtest.Start(t)
	const replicas, rounds = 6, 20
	rs := make([]*SuiteTickets, replicas)
	for i := range rs {
		rs[i] = replicaTickets(mc.Addr)
	}
	base := time.Now().Add(-time.Hour)
	for round := range rounds {
		// Replica i pushes at base + round s + a rank that rotates each round.
		newest, newestAt := "", time.Time{}
		start := make(chan struct{})
		var wg sync.WaitGroup
		errs := make([]error, replicas)
		for i, r := range rs {
			at := base.Add(time.Duration(round)*time.Second + time.Duration((i+round)%replicas)*time.Millisecond)
			ticket := fmt.Sprintf("ticket-r%d-i%d", round, i)
			if at.After(newestAt) {
				newest, newestAt = ticket, at
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				errs[i] = r.Put(ctx, ticket, at)
			}()
		}
		close(start)
		wg.Wait()
		if err := errors.Join(errs...); err != nil {
			t.Fatalf("round %d: %v", round, err)
		}
		fresh := replicaTickets(mc.Addr)
		if got, err := fresh.Ticket(ctx); err != nil || got != newest {
			t.Fatalf("round %d: the store holds %q (%v), want %q", round, got, err, newest)
		}
		for i, r := range rs {
			if got, _ := r.Ticket(ctx); got != newest {
				t.Fatalf("round %d: replica %d reads %q, want %q", round, i, got, newest)
			}
		}
	}
}

// TestSuiteTicketsWithoutALockerAreRepaired: on a Store without a Locker,
// racing Puts may leave an older ticket behind, and the replica that knows
// the newer one puts it back on its next Ticket call.
func TestSuiteTicketsWithoutALockerAreRepaired(t *testing.T) {
	ctx := context.Background()
	shared := NewMemoryStore()
	lockless := struct{ Store }{shared} // hides MemoryStore's Locker
	newer := &SuiteTickets{SuiteKey: testSuiteKey, SuiteSecret: testSuiteSecret, Store: lockless}
	older := &SuiteTickets{SuiteKey: testSuiteKey, SuiteSecret: testSuiteSecret, Store: lockless}
	now := time.Now()
	if err := newer.Put(ctx, "ticket-newer", now); err != nil {
		t.Fatal(err)
	}
	// The race lost: the older ticket lands over the newer one, as when
	// both Puts read the Store before either wrote it.
	older.remember(pushedTicket{ticket: "ticket-older", at: time.UnixMilli(now.Add(-time.Minute).UnixMilli())})
	sl, _ := older.getSealer()
	shared.Save(ctx, older.storeKey(), sl.seal(Token{Value: fmt.Sprint(now.Add(-time.Minute).UnixMilli()) + ":ticket-older", Expiry: now.Add(time.Hour)}))

	if got, _ := newer.Ticket(ctx); got != "ticket-newer" {
		t.Errorf("the replica that knows the newer ticket reads %q", got)
	}
	fresh := &SuiteTickets{SuiteKey: testSuiteKey, SuiteSecret: testSuiteSecret, Store: lockless}
	if got, _ := fresh.Ticket(ctx); got != "ticket-newer" {
		t.Errorf("after the repair a new replica reads %q, want ticket-newer", got)
	}
}

// TestSuiteTicketsSurviveAMemcachedRestart: memcached restarts empty; a
// replica that knows the ticket puts it back on its next Ticket call.
func TestSuiteTicketsSurviveAMemcachedRestart(t *testing.T) {
	ctx := context.Background()
	mc := memcachedtest.StartOwn(t)
	a, b := replicaTickets(mc.Addr), replicaTickets(mc.Addr)
	if err := a.Put(ctx, "ticket-before-restart", time.Now()); err != nil {
		t.Fatal(err)
	}
	mc.Restart()
	b.Ticket(ctx)
	if _, err := b.Ticket(ctx); !errors.Is(err, ErrNoSuiteTicket) {
		t.Fatalf("after the restart, a replica that never saw it: err = %v", err)
	}
	// Each connection pooled before the restart fails once; a Ticket call
	// that meets one answers from memory, and the first that reaches
	// memcached writes the ticket back.
	for calls := 1; ; calls++ {
		if got, err := a.Ticket(ctx); err != nil || got != "ticket-before-restart" {
			t.Fatalf("the replica that saw it: %q, %v", got, err)
		}
		if got, err := b.Ticket(ctx); err == nil && got == "ticket-before-restart" {
			break
		}
		if calls == 5 {
			t.Fatalf("after %d calls of the replica that saw it, the other still reads no ticket", calls)
		}
	}
}

// TestSuiteTicketsStoreDown: Put reports that the Store is unreachable, and
// this process keeps and serves the ticket; nothing logs the ticket.
func TestSuiteTicketsStoreDown(t *testing.T) {
	ctx := context.Background()
	logger, logs := newLogger()
	s := replicaTickets(memcachedtest.ClosedAddr(t))
	s.Logger = logger
	err := s.Put(ctx, "ticket-kept-here", time.Now())
	if err == nil || !strings.HasPrefix(err.Error(), "dingtoken: ") {
		t.Errorf("Put with memcached down: err = %v, want an error", err)
	}
	if got, err := s.Ticket(ctx); err != nil || got != "ticket-kept-here" {
		t.Errorf("Ticket() = %q, %v; want this process's ticket", got, err)
	}
	assertNoSecret(t, "log", logs.String(), "ticket-kept-here", testSuiteSecret)
	assertNoSecret(t, "error", err.Error(), "ticket-kept-here", testSuiteSecret)
}

// TestSuiteTicketsFuturePushTime: a push time far ahead of the clock counts
// as now, so it cannot shadow the pushes after it.
func TestSuiteTicketsFuturePushTime(t *testing.T) {
	ctx := context.Background()
	s := &SuiteTickets{SuiteKey: testSuiteKey, SuiteSecret: testSuiteSecret, Store: NewMemoryStore()}
	before := time.Now().Truncate(time.Millisecond)
	if err := s.Put(ctx, "ticket-from-the-future", time.Now().AddDate(1, 0, 0)); err != nil {
		t.Fatal(err)
	}
	if at := s.current().at; at.Before(before) || at.After(time.Now()) {
		t.Errorf("a push a year ahead was kept as pushed at %v, want now", at)
	}
	if err := s.Put(ctx, "ticket-next", time.Now().Add(time.Second)); err != nil {
		t.Fatal(err)
	}
	if got, _ := (&SuiteTickets{SuiteKey: testSuiteKey, SuiteSecret: testSuiteSecret, Store: s.Store}).Ticket(ctx); got != "ticket-next" {
		t.Errorf("Ticket() = %q, want the push after the future-dated one", got)
	}
}

func TestSuiteTicketsNeedASecretWithAStore(t *testing.T) {
	s := &SuiteTickets{SuiteKey: testSuiteKey, Store: NewMemoryStore()}
	if err := s.Put(context.Background(), "ticket-x", time.Now()); err == nil || !strings.Contains(err.Error(), "SuiteSecret is empty") {
		t.Errorf("err = %v", err)
	}
}

// TestSuiteTicketsFeedCorpAndSuiteCredentials: DingTalk pushes a ticket, a
// replica puts it, and another replica's corp and suite credentials fetch
// with it; after the next push, tokens come only with the new ticket.
// TestNoSuiteTicketYetIsRetriedWithinASecond: a corp asked for before the
// first push fails with ErrNoSuiteTicket, which no call to DingTalk caused:
// however often it was asked, the next look comes within a second, not
// after a backoff grown to 30 s, so the corp's token follows the push.
func TestNoSuiteTicketYetIsRetriedWithinASecond(t *testing.T) {
	ctx := context.Background()
	srv := newISVSim(t)
	tickets := &SuiteTickets{SuiteKey: testSuiteKey}
	corp := &CorpCredentials{SuiteKey: testSuiteKey, SuiteSecret: testSuiteSecret, AuthCorpID: "ding-early", SuiteTicket: tickets.Ticket, Endpoint: srv.URL}
	m := &Manager{}
	for range 6 {
		if _, err := m.Token(ctx, corp); !errors.Is(err, ErrNoSuiteTicket) {
			t.Fatalf("before any push: err = %v, want ErrNoSuiteTicket", err)
		}
		ks := m.state(corp)
		fl := *ks.failure.Load()
		if wait := time.Until(fl.retryAt); wait > minFailureBackoff {
			t.Fatalf("after %d failures the next look waits %v, want at most %v", fl.count, wait, minFailureBackoff)
		}
		fl.retryAt = time.Now() // as if the wait were over
		ks.failure.Store(&fl)
	}
	ticket, at := srv.PushSuiteTicket(testSuiteKey)
	if err := tickets.Put(ctx, ticket, at); err != nil {
		t.Fatal(err)
	}
	if _, err := m.Token(ctx, corp); err != nil {
		t.Errorf("after the push: %v", err)
	}
}

func TestSuiteTicketsFeedCorpAndSuiteCredentials(t *testing.T) {
	ctx := context.Background()
	srv := newISVSim(t)
	mc := memcachedtest.Start(t)
	receiver, caller := replicaTickets(mc.Addr), replicaTickets(mc.Addr)
	corp := &CorpCredentials{SuiteKey: testSuiteKey, SuiteSecret: testSuiteSecret, AuthCorpID: "ding-customer", SuiteTicket: caller.Ticket, Endpoint: srv.URL}
	suite := &SuiteCredentials{SuiteKey: testSuiteKey, SuiteSecret: testSuiteSecret, SuiteTicket: caller.Ticket, Endpoint: srv.URL}

	if _, err := corp.Fetch(ctx); !errors.Is(err, ErrNoSuiteTicket) {
		t.Errorf("before any push: err = %v, want ErrNoSuiteTicket", err)
	}
	for range 2 {
		ticket, at := srv.PushSuiteTicket(testSuiteKey)
		if _, err := corp.Fetch(ctx); !errors.Is(err, ErrInvalidCredentials) && !errors.Is(err, ErrNoSuiteTicket) {
			t.Errorf("pushed, not yet put: err = %v", err)
		}
		if err := receiver.Put(ctx, ticket, at); err != nil {
			t.Fatal(err)
		}
		for _, f := range []Fetcher{corp, suite} {
			if _, err := f.Fetch(ctx); err != nil {
				t.Errorf("%s after the push: %v", f.Key(), err)
			}
		}
	}
}
