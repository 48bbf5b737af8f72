package dingtoken

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/bradfitz/gomemcache/memcache"
	"github.com/dingtoken/dingtoken/dingtalktest"
	"github.com/dingtoken/dingtoken/internal/memcachedtest"
)

// jsapiFor returns the test app's ticket fetcher against srv, its tokens
// cached by m.
func jsapiFor(srv *dingtalktest.Server, m *Manager, legacy bool) *JSAPITicket {
	return &JSAPITicket{App: appCreds(srv), Manager: m, Endpoint: srv.URL, Legacy: legacy}
}

func TestJSAPITicketBothEndpoints(t *testing.T) {
	for _, legacy := range []bool{false, true} {
		name := map[bool]string{false: "jsapiTickets", true: "get_jsapi_ticket"}[legacy]
		t.Run(name, func(t *testing.T) {
			srv := newSim(t)
			start := time.Now()
			tok, err := jsapiFor(srv, &Manager{}, legacy).Fetch(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			if got, want := tok.Value, srv.JSAPITicket(testClientID); got != want || got == "" {
				t.Errorf("ticket %q, the simulator issued %q", got, want)
			}
			if d := tok.Expiry.Sub(start); d < 7199*time.Second || d > 7201*time.Second {
				t.Errorf("expiry %v after the fetch, want 7200s", d)
			}
			if got := srv.JSAPITicketFetches(testClientID); got != 1 {
				t.Errorf("ticket requests %d, want 1", got)
			}
		})
	}
}

// TestJSAPITicketRecoversARejectedAppToken: DingTalk revokes the app token
// the Manager holds; the ticket request is sent again with a fresh one.
func TestJSAPITicketRecoversARejectedAppToken(t *testing.T) {
	for _, legacy := range []bool{false, true} {
		t.Run(map[bool]string{false: "new API", true: "legacy"}[legacy], func(t *testing.T) {
			srv := newSim(t)
			m := &Manager{}
			jt := jsapiFor(srv, m, legacy)
			if _, err := m.Token(context.Background(), jt.App); err != nil {
				t.Fatal(err)
			}
			srv.RevokeAll()
			tok, err := m.Token(context.Background(), jt)
			if err != nil {
				t.Fatal(err)
			}
			if tok.Value != srv.JSAPITicket(testClientID) {
				t.Errorf("got a ticket the simulator does not hold")
			}
			if got := srv.Fetches(testClientID); got != 2 {
				t.Errorf("app token fetches %d, want 2 (the first, and one after the rejection)", got)
			}
			if st := m.Stats(); st.Retries != 1 || st.Invalidations != 1 {
				t.Errorf("stats %+v, want one invalidation and one retry", st)
			}
		})
	}
}

// TestJSAPITicketIsCappedAtItsFirstSighting: a ticket first seen 23.5 hours
// ago is cached for its last half hour only, not for the 2 hours DingTalk's
// answer says; a ticket past its cap that DingTalk still hands out is kept
// a minute only; a new ticket gets the full 2 hours.
func TestJSAPITicketIsCappedAtItsFirstSighting(t *testing.T) {
	tests := []struct {
		name      string
		seenAgo   time.Duration
		wantLeft  time.Duration
		sameValue bool
	}{
		{"first seen 23.5 h ago", 23*time.Hour + 30*time.Minute, 30 * time.Minute, true},
		{"first seen 25 h ago, still handed out", 25 * time.Hour, jsapiMinLifetime, true},
		{"another ticket seen 23.5 h ago", 23*time.Hour + 30*time.Minute, 7200 * time.Second, false},
	}
	for _, tt := range tests {
		for _, where := range []string{"memory", "store"} {
			if where == "store" && tt.seenAgo > JSAPITicketMaxAge {
				continue // the Store forgets a sighting when its ticket's 24 hours are over
			}
			t.Run(tt.name+", "+where, func(t *testing.T) {
				srv := newSim(t)
				m := &Manager{}
				if where == "store" {
					m.Store = NewMemoryStore()
				}
				jt := jsapiFor(srv, m, false)
				first, err := jt.Fetch(context.Background())
				if err != nil {
					t.Fatal(err)
				}
				seen := first.Value
				if !tt.sameValue {
					seen = "an-older-ticket"
				}
				at := time.Now().Add(-tt.seenAgo)
				if where == "memory" {
					jt.seen = sighting{fingerprint: ticketFingerprint(seen), at: at}
				} else {
					jt.seen = sighting{}
					m.Store.Save(context.Background(), "jsapi-seen:"+jt.App.Key(), Token{Value: ticketFingerprint(seen), Expiry: at.Add(JSAPITicketMaxAge)})
				}
				start := time.Now()
				tok, err := jt.Fetch(context.Background())
				if err != nil {
					t.Fatal(err)
				}
				if tok.Value != first.Value {
					t.Fatal("the simulator handed out another ticket")
				}
				if d := tok.Expiry.Sub(start); d < tt.wantLeft-2*time.Second || d > tt.wantLeft+2*time.Second {
					t.Errorf("ticket cached for %v, want %v", d, tt.wantLeft)
				}
			})
		}
	}
}

// TestJSAPITicketSightingSharedThroughMemcached: replicas with their own
// Managers and memcached clients take the first sighting one of them
// recorded, and the Store holds a fingerprint, never the ticket.
func TestJSAPITicketSightingSharedThroughMemcached(t *testing.T) {
	srv := newSim(t)
	mc := memcachedtest.Start(t)
	a := jsapiFor(srv, &Manager{Store: NewMemcacheStore(patientMemcache(mc.Addr))}, false)
	tok, err := a.Fetch(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	raw, err := patientMemcache(mc.Addr).Get(memcacheKey("jsapi-seen:" + a.App.Key()))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(raw.Value), tok.Value) || !strings.Contains(string(raw.Value), ticketFingerprint(tok.Value)) {
		t.Errorf("stored sighting %q: want the fingerprint, not the ticket", raw.Value)
	}
	// Replica a saw the ticket 23 hours ago, as its record now says.
	seen := time.Now().Add(-23 * time.Hour)
	a.Manager.Store.Save(context.Background(), "jsapi-seen:"+a.App.Key(), Token{Value: ticketFingerprint(tok.Value), Expiry: seen.Add(JSAPITicketMaxAge)})
	for i := range 3 {
		b := jsapiFor(srv, &Manager{Store: NewMemcacheStore(patientMemcache(mc.Addr))}, false)
		got, err := b.Fetch(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if want := seen.Add(JSAPITicketMaxAge); got.Value != tok.Value || got.Expiry.Sub(want).Abs() > time.Second {
			t.Errorf("replica %d: ticket expires %v, want %v (24 h after the recorded sighting)", i, got.Expiry, want)
		}
	}
}

// TestJSAPITicketSealedLikeTokens: with a sealing App the ticket is sealed
// in memcached; with a FetcherFunc App, which has no secret to seal it
// with, it stays out of the Store.
func TestJSAPITicketSealedLikeTokens(t *testing.T) {
	srv := newSim(t)
	mc := memcachedtest.Start(t)
	client := patientMemcache(mc.Addr)
	m := &Manager{Store: NewMemcacheStore(client)}
	jt := jsapiFor(srv, m, false)
	tok, err := m.Token(context.Background(), jt)
	if err != nil {
		t.Fatal(err)
	}
	item, err := client.Get(memcacheKey(jt.Key()))
	if err != nil {
		t.Fatal(err)
	}
	if v := string(item.Value); strings.Contains(v, tok.Value) || !strings.Contains(v, sealedPrefix) {
		t.Errorf("stored ticket %q: want it sealed", v)
	}
	other := &Manager{Store: NewMemcacheStore(patientMemcache(mc.Addr))}
	if got, err := other.Token(context.Background(), jsapiFor(srv, other, false)); err != nil || got.Value != tok.Value || other.Stats().L2Hits != 1 {
		t.Errorf("another replica: %v, %v, stats %+v; want the same ticket from memcached", got, err, other.Stats())
	}

	plain := FetcherFunc("app:plain", func(ctx context.Context) (Token, error) { return m.Token(ctx, appCreds(srv)) })
	jp := &JSAPITicket{App: plain, Manager: m, Endpoint: srv.URL}
	if jp.SealingSecret() != "" {
		t.Fatal("a FetcherFunc App gave a sealing secret")
	}
	ptok, err := m.Token(context.Background(), jp)
	if err != nil {
		t.Fatal(err)
	}
	if item, err := client.Get(memcacheKey(jp.Key())); !errors.Is(err, memcache.ErrCacheMiss) || ptok.Value == "" {
		t.Errorf("the ticket of an App without a secret is stored (%v, %v); want it kept out of the Store", item, err)
	}
}

// TestJSAPITicketDroppedAfterSignatureError52013: a page whose dd.config
// fails with 52013 (or 52011) reports the ticket it was signed with, and
// Manager.Invalidate drops it, so the next signature uses a fresh ticket.
func TestJSAPITicketDroppedAfterSignatureError52013(t *testing.T) {
	srv := newSim(t)
	m := &Manager{}
	jt := jsapiFor(srv, m, false)
	const page, nonce = "https://h5.example.com/app/index.html?corpId=ding1", "n0nce"
	sign := func() (string, int) {
		t.Helper()
		tok, err := m.Token(context.Background(), jt)
		if err != nil {
			t.Fatal(err)
		}
		ts := time.Now().UnixMilli()
		return tok.Value, srv.CheckJSAPISignature(testClientID, SignJSAPI(tok.Value, nonce, ts, page), nonce, ts, page)
	}
	old, code := sign()
	if code != 0 {
		t.Fatalf("a fresh ticket's signature: code %d", code)
	}
	srv.RevokeJSAPITickets()
	if _, code = sign(); code != dingtalktest.JSAPITicketUnreadable {
		t.Fatalf("after revocation: code %d, want 52011 while the stale ticket is cached", code)
	}
	// A fresh ticket now exists at DingTalk; the cached one no longer matches.
	if fresh, err := jsapiFor(srv, &Manager{}, false).Fetch(context.Background()); err != nil || fresh.Value == old {
		t.Fatalf("the simulator did not issue a new ticket: %v", err)
	}
	if _, code = sign(); code != dingtalktest.JSAPISignatureInvalid {
		t.Fatalf("stale ticket: code %d, want 52013", code)
	}

	m.Invalidate(context.Background(), jt, old) // what the page's error report triggers
	ticket, code := sign()
	if code != 0 || ticket == old {
		t.Errorf("after Invalidate: code %d, same ticket %v; want a valid signature with a new ticket", code, ticket == old)
	}
	if got := srv.JSAPITicketFetches(testClientID); got != 3 {
		t.Errorf("ticket requests %d, want 3 (first, the other fetcher's, after Invalidate)", got)
	}
}

func TestJSAPITicketErrors(t *testing.T) {
	srv := newSim(t)
	if _, err := (&JSAPITicket{}).Fetch(context.Background()); err == nil || !strings.HasPrefix(err.Error(), "dingtoken: ") {
		t.Errorf("nil App: err = %v", err)
	}
	const wrong = "wrong-secret-6d1f"
	logger, logs := newLogger()
	m := &Manager{Logger: logger}
	jt := &JSAPITicket{App: &AppCredentials{ClientID: testClientID, ClientSecret: wrong, Endpoint: srv.URL}, Manager: m, Endpoint: srv.URL, Logger: logger}
	_, err := m.Token(context.Background(), jt)
	if !errors.Is(err, ErrInvalidCredentials) {
		t.Errorf("App with a wrong secret: err = %v, want ErrInvalidCredentials", err)
	}
	if err != nil {
		assertNoSecret(t, "error", err.Error(), wrong)
	}
	assertNoSecret(t, "log", logs.String(), wrong)
	if got := srv.JSAPITicketFetches(testClientID); got != 0 {
		t.Errorf("ticket requests %d without a token, want 0", got)
	}
}
