package dingtoken

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"log/slog"
	"net/http"
	"net/url"
	"sync"
	"time"
)

// JSAPITicketMaxAge is how long a jsapi ticket lives at most from its
// creation, however often it is fetched again: "从 jsapiTicket 生成起，最大过期
// 时间为 24 小时" (docs/01-应用开发/03-Ogu5SlPY4t-客户端JSAPI/0003-jsapi-authentication.md, 步骤二).
const JSAPITicketMaxAge = 24 * time.Hour

// jsapiMinLifetime is the life given to a ticket DingTalk still hands out
// after the cap this package worked out, which can only mean the first
// sighting it recorded was wrong: short, so the ticket is checked again soon.
const jsapiMinLifetime = time.Minute

// JSAPITicket is a [Fetcher] of the jsapi ticket an H5 page's dd.config
// signature is made with (see [SignJSAPI]). It asks DingTalk with App's
// access token, through a [Transport], so a rejected app token is dropped and
// the request sent again:
//
//   - POST {Endpoint}/v1.0/oauth2/jsapiTickets
//     (docs/01-应用开发/02-4a8AMF6u2A-服务端API/0039-create-a-jsapi-ticket.md), or with Legacy
//   - GET {Endpoint}/get_jsapi_ticket
//     (docs/01-应用开发/02-4a8AMF6u2A-服务端API/1447-obtain-jsapi-ticket.md).
//
// Its cache key is "jsapi:" and App's key; both endpoints share it, as
// DingTalk keeps one ticket per app. If App is a SealingFetcher, the ticket
// is sealed in the Store under App's secret, like tokens.
//
// DingTalk hands out the same ticket again while it is valid, extended by
// 2 hours, but never beyond 24 hours from its creation. DingTalk does not say
// when a ticket was created, so JSAPITicket takes the first time any replica
// saw that ticket value: it keeps that moment in memory and, when Manager has
// a Store, in the Store under "jsapi-seen:" and App's key, as a SHA-256
// fingerprint of the ticket (never the ticket) expiring 24 hours after that
// sighting. A ticket is never cached beyond 24 hours from its first sighting.
// A ticket created before any replica saw it (by another program with the
// same app, or before the Store was emptied) may die earlier; a page then
// reports that dd.config failed (52013, or 52011), and
// Manager.Invalidate(ctx, ticketFetcher, ticket) drops it so that the next
// signature uses a ticket fetched anew.
//
// Use a pointer, as with AppCredentials.
type JSAPITicket struct {
	// App fetches the access token the ticket is requested with: an
	// internal app's credentials, or a corp's for a third-party app.
	// Required.
	App Fetcher
	// Manager caches App's tokens and holds the first sightings of tickets
	// in its Store. If nil, DefaultManager is used.
	Manager *Manager
	// Legacy selects the legacy endpoint.
	Legacy bool

	Endpoint   string       // if empty, DefaultEndpoint, or DefaultLegacyEndpoint with Legacy
	HTTPClient *http.Client // sends the requests (under the Transport); if nil, a client from NewRetryClient is used
	Logger     *slog.Logger // if nil, nothing is logged

	mu      sync.Mutex // guards seen
	seen    sighting   // the last ticket this process fetched
	slot    fetcherSlot
	slotApp fetcherRef // the App whose ticket's key slot holds
}

// sighting is when a ticket, known by its fingerprint, was first seen.
type sighting struct {
	fingerprint string
	at          time.Time
}

// Key returns "jsapi:" and App's key.
func (t *JSAPITicket) Key() string {
	if t.App == nil {
		return "jsapi:"
	}
	return "jsapi:" + t.App.Key()
}

// SealingSecret returns App's sealing secret, or "" if App does not seal.
func (t *JSAPITicket) SealingSecret() string {
	if sf, ok := t.App.(SealingFetcher); ok {
		return sf.SealingSecret()
	}
	return ""
}

// Fetch gets the ticket from DingTalk with App's current token.
func (t *JSAPITicket) Fetch(ctx context.Context) (Token, error) {
	if t.App == nil {
		return Token{}, errors.New("dingtoken: fetch jsapi ticket: JSAPITicket.App is nil")
	}
	method, path, shape, fallback := http.MethodPost, "/v1.0/oauth2/jsapiTickets", jsapiTicketShape, DefaultEndpoint
	if t.Legacy {
		method, path, shape, fallback = http.MethodGet, "/get_jsapi_ticket", legacyJSAPITicketShape, DefaultLegacyEndpoint
	}
	base := endpoint(t.Endpoint, fallback)
	req, err := http.NewRequestWithContext(ctx, method, base+path, nil)
	if err != nil {
		return Token{}, fetchError(t.Key(), err)
	}
	start := time.Now()
	tok, err := fetchShaped(req, t.client(req.URL), shape, t.Key(), t.Logger)
	if err != nil {
		return Token{}, err
	}
	first := t.firstSeen(ctx, tok.Value, start)
	limit := first.Add(JSAPITicketMaxAge)
	if floor := start.Add(jsapiMinLifetime); limit.Before(floor) {
		limit = floor
	}
	if tok.Expiry.After(limit) {
		tok.Expiry = limit
	}
	return tok, nil
}

// client returns an http.Client that sends through a Transport giving the
// request App's token. The Transport's Hosts is the endpoint's host, so a
// configured endpoint (a test server) gets the token too.
func (t *JSAPITicket) client(u *url.URL) *http.Client {
	c := *httpClient(t.HTTPClient)
	c.Transport = &Transport{Fetcher: t.App, Manager: t.Manager, Base: c.Transport, Hosts: []string{u.Hostname()}}
	return &c
}

func (t *JSAPITicket) manager() *Manager {
	if t.Manager == nil {
		return DefaultManager
	}
	return t.Manager
}

// firstSeen returns when ticket was first seen, by this process or, through
// the Store, by any replica; now if never. The earliest known sighting wins,
// and is written back to the Store when the Store lacks it.
func (t *JSAPITicket) firstSeen(ctx context.Context, ticket string, now time.Time) time.Time {
	fp := ticketFingerprint(ticket)
	first := now
	t.mu.Lock()
	if t.seen.fingerprint == fp && t.seen.at.Before(first) {
		first = t.seen.at
	}
	t.mu.Unlock()

	m := t.manager()
	if m.Store != nil && m.store.usable() { // a Store skipped after a timeout costs no wait here either
		key := "jsapi-seen:" + t.App.Key()
		sctx, cancel := m.storeContext(ctx)
		var rec Token
		err := guardStore(func() (err error) {
			rec, err = m.Store.Load(sctx, key)
			return err
		})
		cancel()
		switch {
		case err != nil && !errors.Is(err, ErrNotFound):
			m.storeError("load", key, err)
		case err == nil && rec.Value == fp && !rec.Expiry.Add(-JSAPITicketMaxAge).After(first):
			m.store.succeeded()
			first = rec.Expiry.Add(-JSAPITicketMaxAge)
		default: // no record, another ticket's, or a later sighting than ours
			sctx, cancel := m.storeContext(ctx)
			sighting := Token{Value: fp, Expiry: first.Add(JSAPITicketMaxAge)}
			if err := guardStore(func() error { return m.Store.Save(sctx, key, sighting) }); err != nil {
				m.storeError("save", key, err)
			} else {
				m.store.succeeded()
			}
			cancel()
		}
	}

	t.mu.Lock()
	t.seen = sighting{fingerprint: fp, at: first}
	t.mu.Unlock()
	return first
}

// ticketFingerprint names a ticket in the Store without revealing it.
func ticketFingerprint(ticket string) string {
	sum := sha256.Sum256([]byte("dingtoken jsapi ticket\x00" + ticket))
	return hex.EncodeToString(sum[:16])
}
