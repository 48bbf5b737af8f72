package redisstore

import (
	"context"
	"testing"
	"time"

	"github.com/dingtoken/dingtoken"
	"github.com/dingtoken/dingtoken/internal/redistest"
)

// TestSuiteTicketsReplaceASpoiltValue: whatever else sits under the suite
// ticket's key in Redis, a Put replaces it, as on memcached, and every
// replica reads the ticket put. A value that does not decode must not keep
// the ticket out of Redis for good.
func TestSuiteTicketsReplaceASpoiltValue(t *testing.T) {
	srv := redistest.Start(t)
	for _, tc := range []struct {
		name  string
		write []string // the command that spoils the key
	}{
		{"other layout", []string{"SET", "", "dt9;1;tok"}},
		{"bad expiry", []string{"SET", "", "dt1;notanumber;tok"}},
		{"binary", []string{"SET", "", "\x00\xff\xfe"}},
		{"a hash", []string{"HSET", "", "field", "value"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			s := newStore(t, newClient(t, srv.Addr), uniquePrefix(), countTimeout)
			tc.write[1] = s.tokenKey("suite-ticket:suite-redis")
			if _, err := srv.Do(tc.write...); err != nil {
				t.Fatal(err)
			}
			replica := func() *dingtoken.SuiteTickets {
				return &dingtoken.SuiteTickets{SuiteKey: "suite-redis", SuiteSecret: "suite-secret-9a", Store: s}
			}
			if err := replica().Put(ctx, "ticket-after-spoil", time.Now()); err != nil {
				t.Errorf("Put over a spoilt value: %v; want it replaced", err)
			}
			if got, err := replica().Ticket(ctx); err != nil || got != "ticket-after-spoil" {
				t.Errorf("another replica reads %q, %v; want ticket-after-spoil", got, err)
			}
		})
	}
}
