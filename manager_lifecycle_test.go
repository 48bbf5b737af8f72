package dingtoken

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"
)

// TestFarFutureExpiryIsFetchedOnce: a Fetcher of the user's that says its
// token lasts for centuries (a static token, say) gets it fetched once and
// handed out from memory, not fetched on every call: the entry's moments
// must not overflow Unix nanoseconds (past the year 2262).
func TestFarFutureExpiryIsFetchedOnce(t *testing.T) {
	for _, expiry := range []time.Time{
		time.Date(2200, 1, 1, 0, 0, 0, 0, time.UTC),
		time.Date(3000, 1, 1, 0, 0, 0, 0, time.UTC),
		time.Date(9999, 12, 31, 0, 0, 0, 0, time.UTC),
	} {
		t.Run(fmt.Sprint(expiry.Year()), func(t *testing.T) {
			var fetches atomic.Int32
			f := FetcherFunc("static", func(context.Context) (Token, error) {
				fetches.Add(1)
				return Token{Value: "static-token", Expiry: expiry}, nil
			})
			m := &Manager{}
			for range 5 {
				got, err := m.Token(context.Background(), f)
				if err != nil || got.Value != "static-token" {
					t.Fatalf("got %v, %v; want the static token", got, err)
				}
			}
			settle(m)
			if got, want := fetches.Load(), int32(1); got != want {
				t.Errorf("fetches = %d, want %d", got, want)
			}
		})
	}
}
