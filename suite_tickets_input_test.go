package dingtoken

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/dingtoken/dingtoken/internal/memcachedtest"
)

// TestSuiteTicketsRefuseAPushTooOldToShare: a push time older than
// SuiteTicketRetention (most often eventBornTime read in the wrong unit, or
// a field that did not decode and left 0) is an error naming the unit, and
// the ticket is not kept: kept, it would serve this replica only, since the
// Store never holds a value already expired, while every other replica
// reported ErrNoSuiteTicket.
func TestSuiteTicketsRefuseAPushTooOldToShare(t *testing.T) {
	ctx := context.Background()
	mc := memcachedtest.Start(t)
	eventBornTime := time.Now().UnixMilli()
	for _, tc := range []struct {
		name string
		at   time.Time
	}{
		{"seconds read as milliseconds", time.UnixMilli(eventBornTime / 1000)},
		{"eventBornTime missing", time.UnixMilli(0)},
		{"older than the retention", time.Now().Add(-SuiteTicketRetention - time.Minute)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			receiver, other := replicaTickets(mc.Addr), replicaTickets(mc.Addr)
			receiver.SuiteKey += "-" + strings.ReplaceAll(tc.name, " ", "-")
			other.SuiteKey = receiver.SuiteKey
			err := receiver.Put(ctx, "ticket-too-old-5b1e", tc.at)
			if err == nil || !strings.HasPrefix(err.Error(), "dingtoken: ") || !strings.Contains(err.Error(), "time.UnixMilli") {
				t.Errorf("Put: err = %v, want a dingtoken error that names the unit", err)
			}
			if err != nil && strings.Contains(err.Error(), "ticket-too-old-5b1e") {
				t.Errorf("Put: the error %q quotes the ticket", err)
			}
			for name, s := range map[string]*SuiteTickets{"receiver": receiver, "other": other} {
				if got, err := s.Ticket(ctx); !errors.Is(err, ErrNoSuiteTicket) {
					t.Errorf("%s: Ticket() = %q, %v; want ErrNoSuiteTicket, the same on every replica", name, got, err)
				}
			}
		})
	}
	t.Run("within the retention", func(t *testing.T) {
		receiver, other := replicaTickets(mc.Addr), replicaTickets(mc.Addr)
		receiver.SuiteKey += "-recent"
		other.SuiteKey = receiver.SuiteKey
		if err := receiver.Put(ctx, "ticket-recent-77c2", time.Now().Add(-SuiteTicketRetention+time.Minute)); err != nil {
			t.Fatal(err)
		}
		if got, err := other.Ticket(ctx); err != nil || got != "ticket-recent-77c2" {
			t.Errorf("other replica: Ticket() = %q, %v; want the ticket", got, err)
		}
	})
}

// TestSuiteTicketsNeedASuiteKeyWithAStore: with a Store, the SuiteKey names
// the ticket's Store key; left empty, every suite's tickets would share
// "suite-ticket:", and each suite's Put would replace the other's, whose
// value does not open under its secret.
func TestSuiteTicketsNeedASuiteKeyWithAStore(t *testing.T) {
	ctx := context.Background()
	store := NewMemoryStore()
	for _, tc := range []struct {
		name string
		s    *SuiteTickets
	}{
		{"with a Store", &SuiteTickets{SuiteSecret: testSuiteSecret, Store: store}},
		{"with a Store and no secret either", &SuiteTickets{Store: store}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.s.Put(ctx, "ticket-nokey-1c0d", time.Now())
			if err == nil || !strings.HasPrefix(err.Error(), "dingtoken: ") || !strings.Contains(err.Error(), "SuiteTickets.SuiteKey is empty") {
				t.Errorf("Put: err = %v, want a dingtoken error naming SuiteTickets.SuiteKey", err)
			}
		})
	}
	t.Run("without a Store", func(t *testing.T) {
		s := &SuiteTickets{}
		if err := s.Put(ctx, "ticket-nokey-1c0d", time.Now()); err != nil {
			t.Fatalf("Put: %v", err)
		}
		if got, err := s.Ticket(ctx); err != nil || got != "ticket-nokey-1c0d" {
			t.Errorf("Ticket() = %q, %v; want the ticket put", got, err)
		}
	})
}
