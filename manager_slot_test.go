package dingtoken

import (
	"context"
	"testing"
	"time"
)

// A Fetcher of this package keeps its key's token in its slot, and a hit
// reads only that entry: whatever stops the entry being its key's token
// must keep the slot from handing it out.

// tokenOf is m.Token(f)'s value; the test fails on an error.
func tokenOf(t *testing.T, m *Manager, f Fetcher) string {
	t.Helper()
	tok, err := m.Token(context.Background(), f)
	if err != nil {
		t.Fatal(err)
	}
	return tok.Value
}

// warm gets f's token into m and into f's slot: the first call fetches,
// the second is the hit that keeps the entry.
func warm(t *testing.T, m *Manager, f Fetcher) string {
	t.Helper()
	first := tokenOf(t, m, f)
	if got := tokenOf(t, m, f); got != first {
		t.Fatalf("second call got %q, want the cached %q", got, first)
	}
	sl, _ := slotOf(f)
	if e := (*entry)(sl.e); e == nil || e.token.Value != first {
		t.Fatalf("the slot keeps %v, want the entry of %q", e, first)
	}
	return first
}

func TestSlotHandsOutNoReplacedToken(t *testing.T) {
	m := &Manager{}
	f, _ := sequenceFetcher("replaced", time.Hour)
	warm(t, m, f)
	m.install(m.state(f), m.newEntry(Token{Value: "adopted", Expiry: time.Now().Add(time.Hour)}, time.Now()))
	if got := tokenOf(t, m, f); got != "adopted" {
		t.Errorf("after the key's token was replaced: %q, want %q", got, "adopted")
	}
}

func TestSlotHandsOutNoRejectedToken(t *testing.T) {
	m := &Manager{}
	f, fetches := sequenceFetcher("rejected", time.Hour)
	first := warm(t, m, f)
	if !m.invalidate(context.Background(), f, first) {
		t.Fatal("the cached token was not dropped")
	}
	if got := tokenOf(t, m, f); got == first || fetches.Load() != 2 {
		t.Errorf("after DingTalk rejected %q: %q after %d fetches, want a new token from a second fetch", first, got, fetches.Load())
	}
}

// TestSlotStartsTheRefreshOfADueToken: a hit through the slot on a token
// inside its refresh window starts the background refresh, as any hit does.
func TestSlotStartsTheRefreshOfADueToken(t *testing.T) {
	m := &Manager{}
	f, fetches := sequenceFetcher("due", time.Hour)
	first := warm(t, m, f)
	m.state(f).current.Load().due.Store(true) // as the scheduler marks it inside the window
	if got := tokenOf(t, m, f); got != first {
		t.Errorf("a due but valid token: got %q, want %q without waiting", got, first)
	}
	settle(m)
	if got := fetches.Load(); got != 2 {
		t.Errorf("fetches after a hit on a due token: %d, want 2 (the background refresh)", got)
	}
}

// TestSlotKeepsNoTokenOfAForgottenKey: a refresh that finishes after its
// key was forgotten installs a token the scheduler never looks at again, so
// it must never be handed out from a slot, which would do so past expiry.
func TestSlotKeepsNoTokenOfAForgottenKey(t *testing.T) {
	m := &Manager{forgetAfter: time.Millisecond}
	f, fetches := sequenceFetcher("forgotten", time.Hour)
	ks := m.state(f)
	if next := m.wake(time.Now().Add(time.Hour), ks); !next.IsZero() || !ks.forgotten.Load() {
		t.Fatalf("the idle key was not forgotten (next look %v)", next)
	}
	late := m.newEntry(Token{Value: "late", Expiry: time.Now().Add(time.Hour)}, time.Now())
	m.install(ks, late)
	sl, id := slotOf(f)
	sl.keep(late, id) // as a hit that read ks just before it was forgotten would
	if got := tokenOf(t, m, f); got == "late" || fetches.Load() != 1 {
		t.Errorf("got %q after %d fetches, want a token of the key's new state", got, fetches.Load())
	}
}

// TestSlotRetiresTheTokenOfAKeyBeingForgotten: forgetting a key retires
// its token, so that the forgetting and a late install cannot both miss
// the other.
func TestSlotRetiresTheTokenOfAKeyBeingForgotten(t *testing.T) {
	m := &Manager{forgetAfter: time.Millisecond}
	f, _ := sequenceFetcher("forgetting", time.Hour)
	warm(t, m, f)
	ks := m.state(f)
	e := ks.current.Load()
	if next := m.wake(time.Now().Add(3*time.Hour), ks); !next.IsZero() || !ks.forgotten.Load() {
		t.Fatalf("the expired idle key was not forgotten (next look %v)", next)
	}
	if !e.retired.Load() {
		t.Error("the token of a forgotten key is not retired")
	}
}

// TestSlotOfACopyIsNotTheOriginals: a Fetcher copied by value after use
// carries its original's slot, entry included; the copy, with another key,
// must get its own token on every call.
func TestSlotOfACopyIsNotTheOriginals(t *testing.T) {
	srv := newSim(t)
	srv.AddApp("ding-other", "other-secret")
	m := &Manager{}
	a := appCreds(srv)
	warm(t, m, a)
	b := *a
	b.ClientID, b.ClientSecret = "ding-other", "other-secret"
	for i := range 3 {
		if got, want := tokenOf(t, m, &b), srv.CurrentToken("ding-other"); got != want {
			t.Errorf("call %d on the copy: %q, want ding-other's %q", i, got, want)
		}
	}
}

// TestSlotIsPerManager: one Fetcher used with two Managers gets each
// Manager's own token, however the calls alternate.
func TestSlotIsPerManager(t *testing.T) {
	one, two := &Manager{}, &Manager{}
	f, _ := sequenceFetcher("shared", time.Hour)
	want := map[*Manager]string{one: tokenOf(t, one, f), two: tokenOf(t, two, f)}
	for i := range 6 {
		m := one
		if i%2 == 1 {
			m = two
		}
		if got := tokenOf(t, m, f); got != want[m] {
			t.Errorf("call %d: %q, want this Manager's %q", i, got, want[m])
		}
	}
}

// TestSlotHandsOutNoTokenOnceDropped: a caller whose rejected token another
// caller has just dropped retries, and its retry must not get that token
// from the slot, even before the dropping caller has finished.
func TestSlotHandsOutNoTokenOnceDropped(t *testing.T) {
	m := &Manager{}
	f, _ := sequenceFetcher("dropping", time.Hour)
	first := warm(t, m, f)
	dropped, resume := make(chan struct{}), make(chan struct{})
	m.testHookDropped = func() { close(dropped); <-resume }
	done := make(chan bool)
	go func() { done <- m.invalidate(context.Background(), f, first) }()
	<-dropped
	m.testHookDropped = nil
	retry := m.invalidate(context.Background(), f, first) // finds it dropped already
	got := tokenOf(t, m, f)
	close(resume)
	<-done
	if !retry || got == first {
		t.Errorf("a second rejection of %q: retry %v, then %q; want a retry with another token", first, retry, got)
	}
}

// TestSlotHandsOutNoTokenOnceReplaced: likewise for a caller that finds the
// rejected token already replaced by a refresh that is still finishing.
func TestSlotHandsOutNoTokenOnceReplaced(t *testing.T) {
	m := &Manager{}
	f, _ := sequenceFetcher("replacing", time.Hour)
	first := warm(t, m, f)
	installed, resume := make(chan struct{}), make(chan struct{})
	m.testHookInstalled = func() { close(installed); <-resume }
	done := make(chan struct{})
	go func() {
		defer close(done)
		m.install(m.state(f), m.newEntry(Token{Value: "new", Expiry: time.Now().Add(time.Hour)}, time.Now()))
	}()
	<-installed
	m.testHookInstalled = nil
	retry := m.invalidate(context.Background(), f, first) // finds it replaced
	got := tokenOf(t, m, f)
	close(resume)
	<-done
	if !retry || got != "new" {
		t.Errorf("a rejection of the replaced %q: retry %v, then %q; want a retry with %q", first, retry, got, "new")
	}
}
