package dingtoken

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"
)

// ErrNoSuiteTicket is wrapped by [SuiteTickets.Ticket] when no ticket has
// been put yet, in this process or, through the Store, by any replica.
var ErrNoSuiteTicket = errors.New("dingtoken: no suite ticket pushed yet")

// SuiteTicketRetention is how long a suite ticket is kept in the Store after
// its push. DingTalk pushes a new ticket about every 5 hours
// (docs/01-应用开发/04-LFcRvVD08N-事件订阅/0006-event-suite-ticket.md), so this outlasts four missed pushes.
const SuiteTicketRetention = 24 * time.Hour

const (
	// suiteTicketLockTTL bounds how long a Put holds the Store's lock; a Put
	// is one load and one save, each bounded by the store timeout.
	suiteTicketLockTTL = 10 * time.Second
	// suiteTicketLockWait is how long a Put waits for another replica's
	// lock: longer than its TTL, so that a dead holder's lock runs out.
	suiteTicketLockWait = suiteTicketLockTTL + 5*time.Second
	// maxPushSkew: a push time further ahead of this clock is taken as now,
	// so that one wrong timestamp cannot shadow every later ticket.
	maxPushSkew = time.Minute
)

// SuiteTickets holds the newest suite ticket of one ISV suite for every
// replica of a service. DingTalk pushes the ticket (the suite_ticket event,
// by Stream or SyncHTTP/RDS) to whichever replica it reaches; that replica
// calls Put, and every replica's CorpCredentials and SuiteCredentials read it
// through Ticket:
//
//	tickets := &dingtoken.SuiteTickets{SuiteKey: key, SuiteSecret: secret, Store: store}
//	corp := &dingtoken.CorpCredentials{SuiteKey: key, SuiteSecret: secret, AuthCorpID: corpID, SuiteTicket: tickets.Ticket}
//
// Of the tickets put, by any replica and in any order, the one with the
// latest push time wins: a Put never replaces a ticket pushed later. With a
// Store that is a [Locker] (MemcacheStore, MemoryStore, redisstore's
// Store), replicas' Puts are serialised by the Store's lock; without one,
// two Puts landing within the same moment may leave the older ticket in
// the Store until the next Ticket call of the replica that knows the newer
// one writes it back.
//
// In the Store the ticket is sealed like tokens (AES-GCM under a key derived
// from SuiteSecret), with its push time, under "suite-ticket:<SuiteKey>",
// for SuiteTicketRetention after its push. Set the fields before first use.
type SuiteTickets struct {
	// SuiteKey names the ticket in the Store. Required with a Store.
	SuiteKey string
	// SuiteSecret seals the ticket in the Store. Required with a Store.
	SuiteSecret string
	// Store shares the ticket between replicas. If nil, each process keeps
	// the tickets put into it.
	Store Store
	// StoreTimeout bounds each Store call. If zero, DefaultStoreTimeout is used.
	StoreTimeout time.Duration
	// Logger receives Store failures; tickets are never logged. nil is silent.
	Logger *slog.Logger

	putMu  sync.Mutex   // serialises this process's writes to the Store
	mu     sync.Mutex   // guards latest and sealer
	latest pushedTicket // the newest ticket this process knows
	sealer *sealer      // lazily initialised
}

// pushedTicket is a suite ticket and when DingTalk pushed it, to the
// millisecond as the Store keeps it.
type pushedTicket struct {
	ticket string
	at     time.Time
}

// newerThan reports whether p was pushed after q. Two tickets pushed in the
// same millisecond are ordered by value, so that every replica settles on
// the same one.
func (p pushedTicket) newerThan(q pushedTicket) bool {
	if !p.at.Equal(q.at) {
		return p.at.After(q.at)
	}
	return p.ticket > q.ticket
}

// Put records ticket, pushed by DingTalk at pushedAt (the Stream event's
// eventBornTime; zero means now, for a SyncHTTP/RDS push, which carries no
// time), unless a ticket pushed later is already known. A pushedAt more
// than SuiteTicketRetention ago is an error, and the ticket is not kept. It
// returns an error if the Store could not be brought up to date; the ticket
// is kept in this process either way, and written to the Store by a later
// Ticket call.
func (s *SuiteTickets) Put(ctx context.Context, ticket string, pushedAt time.Time) error {
	if ticket == "" || !isTokenText(ticket) {
		return fmt.Errorf("dingtoken: suite ticket for %s is empty or has bytes a ticket never has", s.SuiteKey)
	}
	now := time.Now()
	if pushedAt.IsZero() || pushedAt.After(now.Add(maxPushSkew)) {
		if !pushedAt.IsZero() {
			s.log("dingtoken: suite ticket pushed in the future; taking it as pushed now", "pushedAt", pushedAt)
		}
		pushedAt = now
	}
	if !pushedAt.Add(SuiteTicketRetention).After(now) {
		// No Store keeps a value already expired: kept here, such a ticket
		// would serve this replica alone while the others report
		// ErrNoSuiteTicket. A push this old is nearly always eventBornTime
		// in the wrong unit, or a field that did not decode and left 0.
		return fmt.Errorf("dingtoken: suite ticket of %s pushed at %v, more than %v ago: pushedAt is the event's eventBornTime in milliseconds, time.UnixMilli(eventBornTime), or zero for now", s.SuiteKey, pushedAt.UTC().Format(time.RFC3339), SuiteTicketRetention)
	}
	p := pushedTicket{ticket: ticket, at: time.UnixMilli(pushedAt.UnixMilli())}
	s.remember(p)
	if s.Store == nil {
		return nil
	}
	return s.share(ctx, p, suiteTicketLockWait)
}

// Ticket returns the newest suite ticket known here or in the Store. Its
// method value is what CorpCredentials.SuiteTicket and
// SuiteCredentials.SuiteTicket take. When the Store is unreachable, the
// newest ticket this process knows is returned.
func (s *SuiteTickets) Ticket(ctx context.Context) (string, error) {
	mem := s.current()
	if s.Store != nil {
		stored, err := s.load(ctx)
		switch {
		case err != nil:
			s.log("dingtoken: suite ticket store load failed; using this process's ticket", "err", err)
			if mem.ticket == "" {
				return "", fmt.Errorf("dingtoken: suite ticket of %s: %w", s.SuiteKey, err)
			}
		case stored.newerThan(mem):
			s.remember(stored)
			return stored.ticket, nil
		case mem.newerThan(stored):
			// The Store lost it (flushed, restarted) or a Put failed: put it
			// back, unless another replica is writing right now.
			if err := s.share(ctx, mem, 0); err != nil {
				s.log("dingtoken: could not put the suite ticket back into the store", "err", err)
			}
		}
	}
	if mem.ticket == "" {
		return "", fmt.Errorf("%w (suite %s)", ErrNoSuiteTicket, s.SuiteKey)
	}
	return mem.ticket, nil
}

// share writes p to the Store unless the Store holds a ticket pushed later,
// under the Store's lock when it has one, waiting up to wait for it.
func (s *SuiteTickets) share(ctx context.Context, p pushedTicket, wait time.Duration) error {
	sl, err := s.getSealer()
	if err != nil {
		return err
	}
	if wait == 0 {
		// Unless another write is under way: this process's own too, which
		// may be waiting for another replica's lock.
		if !s.putMu.TryLock() {
			return nil
		}
	} else {
		s.putMu.Lock()
	}
	defer s.putMu.Unlock()
	if locker, ok := s.Store.(Locker); ok {
		unlock, err := s.lock(ctx, locker, wait)
		if err != nil {
			return err
		}
		defer unlock()
	}
	cur, err := s.load(ctx)
	if err != nil {
		return fmt.Errorf("dingtoken: suite ticket of %s: %w", s.SuiteKey, err)
	}
	if !p.newerThan(cur) {
		s.remember(cur)
		return nil
	}
	sealed := sl.seal(Token{Value: strconv.FormatInt(p.at.UnixMilli(), 10) + ":" + p.ticket, Expiry: p.at.Add(SuiteTicketRetention)})
	sctx, cancel := s.storeContext(ctx)
	defer cancel()
	if err := s.Store.Save(sctx, s.storeKey(), sealed); err != nil {
		return fmt.Errorf("dingtoken: suite ticket of %s: %w", s.SuiteKey, err)
	}
	return nil
}

// lock takes the Store's lock for the ticket, polling while another replica
// holds it, for at most wait.
func (s *SuiteTickets) lock(ctx context.Context, locker Locker, wait time.Duration) (func(), error) {
	deadline := time.Now().Add(wait)
	interval := 5 * time.Millisecond
	for {
		sctx, cancel := s.storeContext(ctx)
		unlock, ok, err := locker.TryLock(sctx, s.storeKey(), suiteTicketLockTTL)
		cancel()
		switch {
		case err != nil:
			if ok && unlock != nil {
				s.releaseUncertain(ctx, unlock) // the store may have taken the lock without saying so
			}
			return nil, fmt.Errorf("dingtoken: suite ticket of %s: lock: %w", s.SuiteKey, err)
		case ok:
			return unlock, nil
		case !time.Now().Add(interval).Before(deadline):
			return nil, fmt.Errorf("dingtoken: suite ticket of %s: the store's lock stayed taken for %v", s.SuiteKey, wait)
		}
		t := time.NewTimer(interval)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, fmt.Errorf("dingtoken: suite ticket of %s: waiting for the store's lock: %w", s.SuiteKey, ctx.Err())
		case <-t.C:
		}
		interval = min(interval*2, 50*time.Millisecond)
	}
}

// releaseUncertain releases a lock the Store may have taken without saying
// so, waiting for the release no longer than for one Store call: a Store
// may hold the release until its late answer comes (redisstore waits until
// go-redis gives the script up, seconds without ContextTimeoutEnabled), and
// the caller, a Put from an event handler, has its error already.
func (s *SuiteTickets) releaseUncertain(ctx context.Context, unlock func()) {
	released := make(chan struct{})
	go func() {
		defer close(released)
		// On a goroutine of its own no caller's recovery reaches: a Store
		// that panics costs the release, not the process.
		if err := guardStore(func() error { unlock(); return nil }); err != nil {
			s.log("dingtoken: releasing the suite ticket's lock failed", "err", err)
		}
	}()
	sctx, cancel := s.storeContext(ctx)
	defer cancel()
	select {
	case <-released:
	case <-sctx.Done():
	}
}

// load returns the ticket in the Store; the zero pushedTicket if there is
// none, or if what is there does not open (another secret, tampered, or not
// ours), so that a Put replaces it.
func (s *SuiteTickets) load(ctx context.Context) (pushedTicket, error) {
	sl, err := s.getSealer()
	if err != nil {
		return pushedTicket{}, err
	}
	sctx, cancel := s.storeContext(ctx)
	raw, err := s.Store.Load(sctx, s.storeKey())
	cancel()
	switch {
	case errors.Is(err, ErrNotFound):
		return pushedTicket{}, nil
	case errors.Is(err, ErrCorruptValue):
		s.log("dingtoken: the stored suite ticket does not decode; it will be replaced", "err", err)
		return pushedTicket{}, nil
	case err != nil:
		return pushedTicket{}, err
	}
	opened, err := sl.open(raw)
	if err != nil {
		s.log("dingtoken: the stored suite ticket does not open with this suite's secret; it will be replaced")
		return pushedTicket{}, nil
	}
	ms, ticket, ok := strings.Cut(opened.Value, ":")
	at, perr := strconv.ParseInt(ms, 10, 64)
	if !ok || perr != nil || ticket == "" {
		return pushedTicket{}, nil
	}
	return pushedTicket{ticket: ticket, at: time.UnixMilli(at)}, nil
}

// remember makes p this process's ticket if it is newer than the one it has.
func (s *SuiteTickets) remember(p pushedTicket) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if p.newerThan(s.latest) {
		s.latest = p
	}
}

func (s *SuiteTickets) current() pushedTicket {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.latest
}

func (s *SuiteTickets) getSealer() (*sealer, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.sealer != nil {
		return s.sealer, nil
	}
	if s.SuiteKey == "" {
		// It names the Store key: suites without one would share it.
		return nil, errors.New("dingtoken: suite ticket: SuiteTickets.SuiteKey is empty; it names the ticket in the Store")
	}
	if s.SuiteSecret == "" {
		return nil, fmt.Errorf("dingtoken: suite ticket of %s: SuiteTickets.SuiteSecret is empty; it seals the ticket in the Store", s.SuiteKey)
	}
	sl, err := newSealer(s.SuiteSecret, s.storeKey())
	if err != nil {
		return nil, fmt.Errorf("dingtoken: suite ticket of %s: %w", s.SuiteKey, err)
	}
	s.sealer = sl
	return sl, nil
}

func (s *SuiteTickets) storeKey() string { return "suite-ticket:" + s.SuiteKey }

func (s *SuiteTickets) storeContext(ctx context.Context) (context.Context, context.CancelFunc) {
	d := s.StoreTimeout
	if d <= 0 {
		d = DefaultStoreTimeout
	}
	return context.WithTimeout(ctx, d)
}

func (s *SuiteTickets) log(msg string, args ...any) {
	if s.Logger != nil {
		s.Logger.Warn(msg, append([]any{"suite", s.SuiteKey}, args...)...)
	}
}
