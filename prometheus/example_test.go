package dingtokenprometheus_test

import (
	"fmt"
	"io"
	"net/http"

	"github.com/dingtoken/dingtoken"
	"github.com/dingtoken/dingtoken/dingtalktest"
	dingtokenprometheus "github.com/dingtoken/dingtoken/prometheus"
	"github.com/prometheus/client_golang/prometheus"
)

// A Collector exports a Manager's Stats, and per-key figures fed by its hooks.
func Example() {
	srv := dingtalktest.NewServer()
	defer srv.Close()
	srv.AddApp("ding-app", "app-secret")

	manager := &dingtoken.Manager{}
	collector := dingtokenprometheus.NewCollector(manager)
	manager.Hooks = dingtoken.JoinHooks(manager.Hooks, collector.Hooks()) // before the Manager's first use
	registry := prometheus.NewRegistry()                                  // yours: prometheus.MustRegister(collector)
	registry.MustRegister(collector)

	client := &http.Client{Transport: &dingtoken.Transport{
		Fetcher: &dingtoken.AppCredentials{ClientID: "ding-app", ClientSecret: "app-secret", HTTPClient: srv.Client()},
		Manager: manager,
		Base:    srv.Transport(), // real code leaves Base nil
	}}
	for range 3 {
		resp, err := client.Get("https://api.dingtalk.com/v1.0/contact/users/me")
		if err != nil {
			panic(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}

	families, err := registry.Gather()
	if err != nil {
		panic(err)
	}
	for _, mf := range families {
		switch mf.GetName() {
		case "dingtoken_fetches_total", "dingtoken_l1_hits_total", "dingtoken_key_tokens_served_total":
			for _, m := range mf.GetMetric() {
				labels := ""
				for _, lp := range m.GetLabel() {
					labels += fmt.Sprintf(" %s=%q", lp.GetName(), lp.GetValue())
				}
				fmt.Printf("%s%s %v\n", mf.GetName(), labels, m.GetCounter().GetValue())
			}
		}
	}
	// Output:
	// dingtoken_fetches_total 1
	// dingtoken_key_tokens_served_total key="app:ding-app" source="memory" 2
	// dingtoken_key_tokens_served_total key="app:ding-app" source="store" 0
	// dingtoken_l1_hits_total 2
}
