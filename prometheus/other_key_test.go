package dingtokenprometheus

import (
	"context"
	"testing"
	"time"

	"github.com/dingtoken/dingtoken"
)

// TestKeyNamedOther: a Fetcher whose key is "other", which takes no place
// of its own, and a key beyond MaxKeys are both counted under key="other",
// in one series: Collect sending it twice would fail the whole registry's
// gathering.
func TestKeyNamedOther(t *testing.T) {
	m := &dingtoken.Manager{}
	c := NewCollector(m)
	c.MaxKeys = 1
	m.Hooks = c.Hooks()
	for _, key := range []string{OtherKey, "app:first", "app:beyond"} {
		f := dingtoken.FetcherFunc(key, func(context.Context) (dingtoken.Token, error) {
			return dingtoken.Token{Value: "tok-" + key, Expiry: time.Now().Add(time.Hour)}, nil
		})
		if _, err := m.Token(context.Background(), f); err != nil {
			t.Fatal(err)
		}
	}
	mfs := gather(t, c) // fails on a series sent twice
	if got, want := value(t, mfs, "dingtoken_key_fetches_total", "key", OtherKey), 2.0; got != want {
		t.Errorf("fetches of %q: %v, want %v", OtherKey, got, want)
	}
	if got, want := value(t, mfs, "dingtoken_key_fetches_total"), 3.0; got != want {
		t.Errorf("fetches summed over keys: %v, want %v", got, want)
	}
}
