package dingtoken

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"
)

// TestExpiredTokenIsNeverServed: a token is not handed out from memory past
// its use, whether its refresh comes ahead of expiry or only at it
// (RefreshAhead < 0, where the refresh moment is the end itself).
func TestExpiredTokenIsNeverServed(t *testing.T) {
	for _, ahead := range []time.Duration{-1, 0} {
		t.Run(fmt.Sprint("RefreshAhead=", ahead), func(t *testing.T) {
			var fetches atomic.Int32
			f := FetcherFunc("short", func(context.Context) (Token, error) {
				n := fetches.Add(1)
				return Token{Value: fmt.Sprint("token-", n), Expiry: time.Now().Add(time.Second)}, nil
			})
			m := &Manager{RefreshAhead: ahead}
			first, err := m.Token(context.Background(), f)
			if err != nil {
				t.Fatal(err)
			}
			time.Sleep(time.Until(first.Expiry)) // its use ends before this
			got, err := m.Token(context.Background(), f)
			if err != nil {
				t.Fatal(err)
			}
			if !got.Expiry.After(time.Now()) {
				t.Errorf("got %v, which expired %v ago", got, time.Since(got.Expiry))
			}
			if n := fetches.Load(); n != 2 {
				t.Errorf("fetches %d, want 2", n)
			}
		})
	}
}
