package dingtokenprometheus

import (
	"context"
	"testing"
	"time"

	"github.com/dingtoken/dingtoken"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// TestTwoManagersApartByALabel: the Collectors of two Managers in one
// process register in one registry once each is wrapped with a label of
// its own, and each label's figures are its Manager's; without the label
// the second is refused.
func TestTwoManagersApartByALabel(t *testing.T) {
	reg := prometheus.NewPedanticRegistry()
	fetches := map[string]int{"app": 1, "isv": 3}
	for name, n := range fetches {
		m := &dingtoken.Manager{}
		c := NewCollector(m)
		m.Hooks = c.Hooks()
		for i := range n {
			f := dingtoken.FetcherFunc(name+string(rune('a'+i)), func(context.Context) (dingtoken.Token, error) {
				return dingtoken.Token{Value: "tok-" + name, Expiry: time.Now().Add(time.Hour)}, nil
			})
			if _, err := m.Token(context.Background(), f); err != nil {
				t.Fatal(err)
			}
		}
		if err := prometheus.WrapRegistererWith(prometheus.Labels{"manager": name}, reg).Register(c); err != nil {
			t.Fatalf("registering %s's Collector under its label: %v", name, err)
		}
		if err := reg.Register(NewCollector(m)); err == nil {
			t.Errorf("a Collector without the label was registered beside %s's", name)
		}
	}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	byName := map[string]*dto.MetricFamily{}
	for _, mf := range mfs {
		byName[mf.GetName()] = mf
	}
	for name, n := range fetches {
		if got := value(t, byName, "dingtoken_fetches_total", "manager", name); got != float64(n) {
			t.Errorf("fetches of manager=%q: %v, want %d", name, got, n)
		}
	}
}
