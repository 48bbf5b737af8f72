package dingtoken

import (
	"reflect"
	"sync/atomic"
	"time"
	"unsafe"
)

// defaultIdleAfter is how long a key is kept, with its failure backoff and
// damping, after its token stopped being handed out and its last caller
// needed a refresh.
const defaultIdleAfter = 10 * time.Minute

// maxIdentitiesPerKey bounds how many Fetcher pointers of other packages
// one key remembers, so that a program making a new Fetcher per request
// does not grow the Manager; further ones are looked up by Key().
const maxIdentitiesPerKey = 4

// keyState is everything the Manager knows about one key.
//
// A cache hit reads m, current and forgotten, which come first so that
// they share the first cache line (a keyState takes 128 bytes, aligned): an
// ISV's 100,000 keys are not all in cache.
type keyState struct {
	m              *Manager              // the Manager it belongs to, checked by fetcher slots
	current        atomic.Pointer[entry] // nil: no token
	forgotten      atomic.Bool           // removed from the Manager; lookups make a new keyState
	replacing      atomic.Bool           // the next token replaces a rejected one
	warnedUnsealed atomic.Bool           // the log says this key's tokens stay out of the Store
	qi             int32                 // index in the scheduler's queue, -1 if not in it; guarded by the scheduler's mu
	key            string

	flight     atomic.Pointer[flight]         // the refresh under way, if any
	failure    atomic.Pointer[failure]        // the last refresh failed; nil after a success
	rejected   atomic.Pointer[rejectedTokens] // the last tokens DingTalk rejected; never adopted again
	damped     atomic.Int64                   // Unix ns until which rejections do not drop tokens
	rejections atomic.Uint32                  // counts rejections, so a refresh knows one came while it ran
	lastAsked  atomic.Int64                   // Unix ns of the last caller that needed a refresh

	// dropped holds digests of the tokens dropped within their lifetime, for issuedToken.
	dropped atomic.Pointer[droppedTokens]
	// releasing is closed when this process's background release of the
	// key's refresh lock is done; nil when none is running.
	releasing atomic.Pointer[chan struct{}]

	identities *[]any // Fetcher pointers mapped to this key in Manager.fetchers, if any; guarded by the scheduler's mu

	wake int64 // Unix ns when the scheduler next looks at the key; guarded likewise
}

// fetcherSlot caches, inside a Fetcher of this package, its key's state and
// token in the Manager that used it last, so that a cache hit needs no map
// lookup, no lock and no Key() call, and reads one object besides the
// Fetcher. No map holds on to the Fetcher: a dropped Fetcher is collected
// like any other value.
type fetcherSlot struct {
	ks unsafe.Pointer // *keyState; read and written atomically
	// e is the *entry of the key's token when last handed out, or nil; read
	// and written atomically. Only the entry's own fields say whether it
	// may still be handed out.
	e unsafe.Pointer
	// owner is the slot's own address when ks was stored. A Fetcher copied
	// by value carries its original's slot; the address tells it that the
	// state is not its own, since the copy may have another key.
	owner uintptr
	// a and b are the fields the key was made of when ks was stored: a
	// Fetcher whose fields were set since (AuthCorpID to another corp) has
	// another key, and must not get the old key's token.
	a, b fieldRef
}

// keyFields are the fields a Fetcher's key is made of: two strings, which
// the compiler keeps in registers (any more, and a hit copies them through
// memory, at twice its cost).
type keyFields struct{ a, b string }

// fetcherRef is a Fetcher's two words: its dynamic type and its data. Held
// as pointers, neither is reused for another value, and what an interface
// points to is never modified, so equal words are the same Fetcher (for a
// pointer, the same pointer). Comparing them calls nothing, and cannot
// panic on a Fetcher whose type is not comparable.
type fetcherRef struct{ typ, data unsafe.Pointer }

// wordsAt returns the words of the Fetcher at p, read in place.
func wordsAt(p *Fetcher) *fetcherRef { return (*fetcherRef)(unsafe.Pointer(p)) }

func (r *fetcherRef) is(p *Fetcher) bool {
	w := wordsAt(p)
	return atomic.LoadPointer(&r.typ) == w.typ && atomic.LoadPointer(&r.data) == w.data
}

func (r *fetcherRef) set(p *Fetcher) {
	w := wordsAt(p)
	atomic.StorePointer(&r.typ, w.typ)
	atomic.StorePointer(&r.data, w.data)
}

// fieldRef is where a string's bytes were, and how many. Held as a pointer,
// the old string's memory is not reused for a new string, so equal
// pointers and sizes are equal strings, and comparing reads neither.
type fieldRef struct {
	data unsafe.Pointer
	size uintptr
}

func (r *fieldRef) is(s string) bool {
	return atomic.LoadPointer(&r.data) == unsafe.Pointer(unsafe.StringData(s)) && atomic.LoadUintptr(&r.size) == uintptr(len(s))
}

func (r *fieldRef) set(s string) {
	atomic.StorePointer(&r.data, unsafe.Pointer(unsafe.StringData(s)))
	atomic.StoreUintptr(&r.size, uintptr(len(s)))
}

// holds reports whether the slot's ks and e were stored for this Fetcher,
// not for the one it was copied from, and for its fields as they are now.
func (sl *fetcherSlot) holds(id keyFields) bool {
	return atomic.LoadUintptr(&sl.owner) == uintptr(unsafe.Pointer(sl)) && sl.a.is(id.a) && sl.b.is(id.b)
}

// fill points the slot at ks, the state of the key made of id.
func (sl *fetcherSlot) fill(ks *keyState, id keyFields) {
	atomic.StorePointer(&sl.ks, unsafe.Pointer(ks))
	atomic.StorePointer(&sl.e, nil) // before the rest: another key's entry must not look like this one's
	sl.a.set(id.a)
	sl.b.set(id.b)
	atomic.StoreUintptr(&sl.owner, uintptr(unsafe.Pointer(sl)))
}

// hit returns the entry kept in the slot if it is m's, still its key's
// token and not due for a refresh; else nil, as for a nil slot (a Fetcher
// of another package). owner and the fields are stored after e is cleared
// and loaded before e, so matching ones mean e is this Fetcher's key's.
func (sl *fetcherSlot) hit(m *Manager, id keyFields) *entry {
	if sl == nil || !sl.holds(id) {
		return nil
	}
	e := (*entry)(atomic.LoadPointer(&sl.e))
	if e == nil || e.m != m || e.retired.Load() || e.due.Load() {
		return nil
	}
	return e
}

// keep puts e, the current token of the slot's key, in the slot; a nil
// slot keeps nothing.
func (sl *fetcherSlot) keep(e *entry, id keyFields) {
	if sl != nil && sl.holds(id) {
		atomic.StorePointer(&sl.e, unsafe.Pointer(e))
	}
}

// nilSlot is the slot of a nil pointer of one of this package's Fetchers
// (a Transport's Fetcher left unset in a config, say), whose Key and Fetch
// would panic: the Manager answers errNilFetcher instead.
var nilSlot fetcherSlot

// slotOf returns the slot of f, a Fetcher of this package, and the fields
// its key is made of. Any other Fetcher has none, a type that embeds one of
// ours included: its Key may not be the embedded one's, and its slot would
// mix the two keys.
func slotOf(f Fetcher) (*fetcherSlot, keyFields) {
	switch f := f.(type) {
	case *CorpCredentials:
		if f != nil {
			return &f.slot, keyFields{a: f.SuiteKey, b: f.AuthCorpID}
		}
	case *AppCredentials:
		if f != nil {
			return &f.slot, keyFields{a: f.ClientID}
		}
	case *LegacyAppCredentials:
		if f != nil {
			return &f.slot, keyFields{a: f.AppKey}
		}
	case *ClientCredentials:
		if f != nil {
			return &f.slot, keyFields{a: f.ClientID, b: f.CorpID}
		}
	case *SuiteCredentials:
		if f != nil {
			return &f.slot, keyFields{a: f.SuiteKey}
		}
	case *SSOCredentials:
		if f != nil {
			return &f.slot, keyFields{a: f.CorpID}
		}
	case *funcFetcher:
		if f != nil {
			return &f.slot, keyFields{} // its key is set once
		}
	case *JSAPITicket:
		if f != nil {
			// The key is made of the App's: its fields, if it is one of
			// ours. Another App (a FetcherFunc, another package's
			// Fetcher, whose fields cannot be seen) has another key: the
			// slot no longer holds this one's.
			if !f.slotApp.is(&f.App) {
				f.slotApp.set(&f.App)
				atomic.StoreUintptr(&f.slot.owner, 0)
			}
			_, app := slotOf(f.App)
			return &f.slot, app
		}
	default:
		return nil, keyFields{}
	}
	return &nilSlot, keyFields{}
}

// state returns the keyState for f: from f's own slot for the Fetchers of
// this package; for other pointer Fetchers, from a concurrent map by
// identity; else by f.Key().
func (m *Manager) state(f Fetcher) *keyState {
	sl, id := slotOf(f)
	return m.stateIn(f, sl, id)
}

// stateIn is state with f's slot, or nil, and key fields already looked up.
func (m *Manager) stateIn(f Fetcher, sl *fetcherSlot, id keyFields) *keyState {
	if sl != nil {
		if sl.holds(id) {
			if ks := (*keyState)(atomic.LoadPointer(&sl.ks)); ks != nil && ks.m == m && !ks.forgotten.Load() {
				return ks
			}
		}
		ks := m.stateByKey(f.Key())
		sl.fill(ks, id)
		return ks
	}
	if reflect.TypeOf(f).Kind() != reflect.Pointer {
		return m.stateByKey(f.Key())
	}
	if v, ok := m.fetchers.Load(f); ok {
		if ks := v.(*keyState); !ks.forgotten.Load() {
			return ks
		}
	}
	ks := m.stateByKey(f.Key())
	m.remember(f, ks)
	return ks
}

// stateByKey finds or makes the keyState of key.
func (m *Manager) stateByKey(key string) *keyState {
	if v, ok := m.keys.Load(key); ok {
		if ks := v.(*keyState); !ks.forgotten.Load() {
			return ks
		}
		if m.keys.CompareAndDelete(key, v) { // being forgotten right now
			m.keyCount.Add(-1)
		}
	}
	ks := &keyState{m: m, key: key, qi: -1}
	if v, loaded := m.keys.LoadOrStore(key, ks); loaded {
		return v.(*keyState)
	}
	m.keyCount.Add(1)
	// A key that never gets a token is forgotten like any idle one.
	m.scheduler().schedule(ks, time.Now().Add(m.idleAfter()))
	return ks
}

// remember maps the pointer Fetcher f to ks, unless ks has enough of them.
func (m *Manager) remember(f Fetcher, ks *keyState) {
	s := m.scheduler()
	s.mu.Lock()
	defer s.mu.Unlock()
	if ks.identities == nil {
		ks.identities = new([]any)
	}
	if ks.forgotten.Load() || len(*ks.identities) >= maxIdentitiesPerKey {
		return
	}
	*ks.identities = append(*ks.identities, f)
	m.fetchers.Store(f, ks)
}

// wake is the scheduler's work for ks at now: mark its token due for a
// background refresh, or forget the key once idleAfter has passed since its
// token stopped being handed out and since a caller last needed a refresh.
// It returns when to look again, or zero.
func (m *Manager) wake(now time.Time, ks *keyState) time.Time {
	if ks.forgotten.Load() {
		return time.Time{} // a refresh that finished after the key was forgotten put it back in the queue
	}
	// Idle since the later of when the token stopped being handed out and
	// when a caller last needed a refresh: callers served from memory leave
	// no trace, so until the token's end the key counts as in use.
	idleSince := ks.lastAsked.Load()
	if e := ks.current.Load(); e != nil {
		if now.UnixNano() < e.refreshAt {
			return time.Unix(0, e.refreshAt)
		}
		// Due, or past its use: a hit must read the clock from now on. A
		// token whose refresh moment is its end (RefreshAhead < 0), or
		// whose wake came late, is no longer handed out without a look.
		e.due.Store(true)
		if e.usableAt(now) {
			return time.Unix(0, e.expireAt)
		}
		idleSince = max(idleSince, e.expireAt)
	}
	if until := time.Unix(0, idleSince).Add(m.idleAfter()); ks.flight.Load() != nil || now.Before(until) {
		if next := now.Add(time.Second); until.Before(next) {
			return next // a refresh is under way: look again soon
		}
		return until
	}
	ks.forgotten.Store(true)
	if e := ks.current.Load(); e != nil {
		e.retired.Store(true) // after forgotten: see install
	}
	if m.keys.CompareAndDelete(ks.key, ks) {
		m.keyCount.Add(-1)
	}
	if ks.identities != nil {
		for _, f := range *ks.identities {
			m.fetchers.CompareAndDelete(f, ks)
		}
		ks.identities = nil
	}
	return time.Time{}
}

// install makes e the token of ks and plans its refresh.
func (m *Manager) install(ks *keyState, e *entry) {
	m.place(ks, e)
	m.plan(ks, e)
}

// plan has the scheduler wake ks when e is due for refresh.
func (m *Manager) plan(ks *keyState, e *entry) {
	m.scheduler().schedule(ks, time.Unix(0, e.refreshAt))
}

// place makes e the token of ks.
func (m *Manager) place(ks *keyState, e *entry) {
	if time.Now().UnixNano() >= e.refreshAt {
		e.due.Store(true)
	}
	e.ks = ks
	// The old token is retired before it is replaced, as invalidate does:
	// a caller that sees the new one must not get the old one from a slot.
	// The refreshes of a key do not overlap, and invalidate only clears.
	if prev := ks.current.Load(); prev != nil {
		prev.retired.Store(true)
	}
	old := ks.current.Swap(e)
	if m.testHookInstalled != nil {
		m.testHookInstalled()
	}
	if ks.forgotten.Load() {
		// A refresh that outlived its key: no fetcher slot may keep e, for
		// the scheduler no longer looks at it. Forgetting stores forgotten
		// before it retires the current entry, so one of the two sees e.
		e.retired.Store(true)
	}
	if old != nil && old.token.Value != e.token.Value {
		ks.recordDropped(old.token) // a caller may still hold it, as ours
	}
}

// scheduler returns the Manager's scheduler, made on first use.
func (m *Manager) scheduler() *scheduler {
	m.schedOnce.Do(func() { m.sched.run = m.wake })
	return &m.sched
}

func (m *Manager) idleAfter() time.Duration {
	if m.forgetAfter > 0 {
		return m.forgetAfter
	}
	return defaultIdleAfter
}
