package dingtoken

import (
	"context"
	"errors"
	"net/http"
	"sync"
	"testing"

	"github.com/dingtoken/dingtoken/dingtalktest"
	"github.com/dingtoken/dingtoken/internal/memcachedtest"
)

// holdFirst is a RoundTripper that holds the first request it is given
// until release is closed, after telling held, then sends every request on
// through base.
type holdFirst struct {
	base    http.RoundTripper
	held    chan struct{}
	release chan struct{}
	once    sync.Once
}

func (h *holdFirst) RoundTrip(req *http.Request) (*http.Response, error) {
	first := false
	h.once.Do(func() { first = true })
	if first {
		close(h.held)
		select {
		case <-h.release:
		case <-req.Context().Done():
			return nil, req.Context().Err()
		}
	}
	return h.base.RoundTrip(req)
}

// TestTicketReplacedDuringAFetchIsRetriedWithTheNewOne: a replica sends a
// corp (or suite) token request with the suite ticket it has just read;
// before the request reaches DingTalk, DingTalk pushes a new ticket, which
// another replica puts, and DingTalk answers the request that the ticket is
// no longer valid. The fetch asks for the ticket again, finds the new one and
// sends once more: the caller gets its token, with one more call to DingTalk
// and no backoff.
func TestTicketReplacedDuringAFetchIsRetriedWithTheNewOne(t *testing.T) {
	for _, kind := range []struct {
		name  string
		build func(srv *dingtalktest.Server, tickets *SuiteTickets, client *http.Client) Fetcher
	}{
		{"corp", func(srv *dingtalktest.Server, tickets *SuiteTickets, client *http.Client) Fetcher {
			return &CorpCredentials{SuiteKey: testSuiteKey, SuiteSecret: testSuiteSecret, AuthCorpID: "ding-inflight", SuiteTicket: tickets.Ticket, Endpoint: srv.URL, HTTPClient: client}
		}},
		{"suite", func(srv *dingtalktest.Server, tickets *SuiteTickets, client *http.Client) Fetcher {
			return &SuiteCredentials{SuiteKey: testSuiteKey, SuiteSecret: testSuiteSecret, SuiteTicket: tickets.Ticket, Endpoint: srv.URL, HTTPClient: client}
		}},
		{"legacy suite", func(srv *dingtalktest.Server, tickets *SuiteTickets, client *http.Client) Fetcher {
			return &SuiteCredentials{SuiteKey: testSuiteKey, SuiteSecret: testSuiteSecret, SuiteTicket: tickets.Ticket, Legacy: true, Endpoint: srv.URL, HTTPClient: client}
		}},
	} {
		t.Run(kind.name, func(t *testing.T) {
			ctx := context.Background()
			srv := newISVSim(t)
			mc := memcachedtest.Start(t)
			receiver, caller := replicaTickets(mc.Addr), replicaTickets(mc.Addr)
			ticket, at := srv.PushSuiteTicket(testSuiteKey)
			if err := receiver.Put(ctx, ticket, at); err != nil {
				t.Fatal(err)
			}
			hold := &holdFirst{base: srv.Transport(), held: make(chan struct{}), release: make(chan struct{})}
			f := kind.build(srv, caller, &http.Client{Transport: hold})
			m := &Manager{Store: NewMemcacheStore(patientMemcache(mc.Addr))}

			type result struct {
				tok Token
				err error
			}
			done := make(chan result, 1)
			go func() {
				tok, err := m.Token(ctx, f)
				done <- result{tok, err}
			}()
			<-hold.held // the request carries the ticket read before the push
			ticket, at = srv.PushSuiteTicket(testSuiteKey)
			if err := receiver.Put(ctx, ticket, at); err != nil {
				t.Fatal(err)
			}
			close(hold.release)
			r := <-done
			if r.err != nil {
				t.Fatalf("Token() with the ticket replaced during the fetch: %v; want a token", r.err)
			}
			if got, want := srv.Fetches(testSuiteKey), 2; got != want {
				t.Errorf("token requests = %d, want %d (the rejected one, one with the new ticket)", got, want)
			}
			if got, err := m.Token(ctx, f); err != nil || got.Value != r.tok.Value {
				t.Errorf("next Token() = %v, %v; want the cached token", got, err)
			}

			// Pushed but not yet put anywhere: the newest ticket known is
			// the one DingTalk refused, and it is not sent again.
			srv.PushSuiteTicket(testSuiteKey)
			before := srv.Fetches(testSuiteKey)
			if _, err := f.Fetch(ctx); !errors.Is(err, ErrInvalidCredentials) {
				t.Errorf("with no newer ticket known: err = %v, want ErrInvalidCredentials", err)
			}
			if got, want := srv.Fetches(testSuiteKey)-before, 1; got != want {
				t.Errorf("with no newer ticket known: %d token requests, want %d", got, want)
			}
		})
	}
}
