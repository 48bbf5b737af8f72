package dingtoken

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"
)

// sequenceFetcher hands out tok-1, tok-2, ... each living for life.
func sequenceFetcher(key string, life time.Duration) (Fetcher, *atomic.Int32) {
	var n atomic.Int32
	return FetcherFunc(key, func(context.Context) (Token, error) {
		return Token{Value: fmt.Sprintf("tok-%d", n.Add(1)), Expiry: time.Now().Add(life)}, nil
	}), &n
}

func TestIssuedToken(t *testing.T) {
	ctx := context.Background()
	m := &Manager{}
	f, _ := sequenceFetcher("issued", time.Hour)
	other, _ := sequenceFetcher("issued-other", time.Hour)
	if m.issuedToken(f, "tok-1") {
		t.Error("a cold Manager claims a token")
	}
	first, _ := m.Token(ctx, f)
	m.Invalidate(ctx, f, first.Value)
	second, _ := m.Token(ctx, f)
	for _, tt := range []struct {
		f     Fetcher
		value string
		want  bool
	}{
		{f, second.Value, true}, // current
		{f, first.Value, true},  // dropped, within its lifetime
		{f, "tok-3", false},     // never issued
		{f, "", false},
		{other, first.Value, false}, // issued, but for another key
	} {
		if got := m.issuedToken(tt.f, tt.value); got != tt.want {
			t.Errorf("issuedToken(%s, %q) = %v, want %v", tt.f.Key(), tt.value, got, tt.want)
		}
	}
}

// TestIssuedTokenForgets: a dropped token is remembered only while it would
// have been valid, and at most maxDropped of them.
func TestIssuedTokenForgets(t *testing.T) {
	ctx := context.Background()
	m := &Manager{RefreshAhead: -1}
	short, _ := sequenceFetcher("short", 1500*time.Millisecond)
	tok, err := m.Token(ctx, short)
	if err != nil {
		t.Fatal(err)
	}
	m.Invalidate(ctx, short, tok.Value)
	if !m.issuedToken(short, tok.Value) {
		t.Fatal("the dropped token is not remembered")
	}
	deadline := time.Now().Add(10 * time.Second)
	for m.issuedToken(short, tok.Value) && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond) // waits for the token's own expiry, which is the point
	}
	if m.issuedToken(short, tok.Value) {
		t.Error("a dropped token is remembered after it expired")
	}

	many, _ := sequenceFetcher("many", time.Hour)
	for range maxDropped + 4 {
		tok, err := m.Token(ctx, many)
		if err != nil {
			t.Fatal(err)
		}
		// DingTalk took each token before rejecting it, so no rejection
		// is damped as a chain.
		m.state(many).current.Load().accept()
		m.Invalidate(ctx, many, tok.Value)
	}
	for i := 1; i <= maxDropped+4; i++ {
		want := i > 4
		if got := m.issuedToken(many, fmt.Sprintf("tok-%d", i)); got != want {
			t.Errorf("tok-%d remembered: %v, want %v", i, got, want)
		}
	}
}
