package dingtoken

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"
)

// TestPlaintextStoreKeepsOutWhatItWouldRefuse: with StorePlaintext, a token
// of a Fetcher of another source with bytes a DingTalk token never has
// (here spaces) is not saved: every replica would read it as a value that
// does not decode, count a store error on each look and fetch its own.
func TestPlaintextStoreKeepsOutWhatItWouldRefuse(t *testing.T) {
	store := NewMemoryStore()
	var calls atomic.Int32
	f := FetcherFunc("app:spaced", func(ctx context.Context) (Token, error) {
		return Token{Value: fmt.Sprintf("tok with spaces %d", calls.Add(1)), Expiry: time.Now().Add(time.Hour)}, nil
	})
	a := &Manager{Store: store, StorePlaintext: true}
	b := &Manager{Store: store, StorePlaintext: true}
	tokenOf(t, a, f)
	settle(a)
	if got, err := store.Load(context.Background(), f.Key()); err == nil {
		t.Errorf("the Store holds %q; want nothing: no replica would take it", got.Value)
	}
	tokenOf(t, b, f)
	settle(b)
	if st := b.Stats(); st.StoreErrors != 0 {
		t.Errorf("the second replica: stats %+v; want no store error over a value the first one saved", st)
	}
}
