package dingtokenprometheus

import (
	"github.com/dingtoken/dingtoken"
	"github.com/prometheus/client_golang/prometheus"
)

// statCounter is a counter taken from the Manager's Stats.
type statCounter struct {
	desc  *prometheus.Desc
	value func(dingtoken.Stats) uint64
}

type descs struct {
	stats []statCounter
	keys  *prometheus.Desc

	servedTotal, fetches, fetchErrors, rejections, retries, storeErrors, lockWaits, background *prometheus.Desc
}

func newDescs() descs {
	stat := func(name, help string, value func(dingtoken.Stats) uint64) statCounter {
		return statCounter{prometheus.NewDesc("dingtoken_"+name+"_total", help, nil, nil), value}
	}
	perKey := func(name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc("dingtoken_key_"+name+"_total", help, append([]string{"key"}, labels...), nil)
	}
	return descs{
		stats: []statCounter{
			stat("l1_hits", "Tokens handed out from memory.", func(s dingtoken.Stats) uint64 { return s.L1Hits }),
			stat("l2_hits", "Tokens adopted from the shared Store.", func(s dingtoken.Stats) uint64 { return s.L2Hits }),
			stat("fetches", "Calls to DingTalk's token endpoint.", func(s dingtoken.Stats) uint64 { return s.Fetches }),
			stat("fetch_errors", "Token fetches that failed or panicked.", func(s dingtoken.Stats) uint64 { return s.FetchErrors }),
			stat("background_refreshes", "Refreshes started ahead of expiry, with no caller waiting.", func(s dingtoken.Stats) uint64 { return s.BackgroundRefreshes }),
			stat("invalidations", "Tokens dropped because DingTalk rejected them.", func(s dingtoken.Stats) uint64 { return s.Invalidations }),
			stat("store_errors", "Store and Locker calls that failed.", func(s dingtoken.Stats) uint64 { return s.StoreErrors }),
			stat("lock_waits", "Times another process held the refresh lock and this one waited for its token.", func(s dingtoken.Stats) uint64 { return s.LockWaits }),
			stat("retries", "Requests sent again with a fresh token after DingTalk rejected theirs.", func(s dingtoken.Stats) uint64 { return s.Retries }),
			stat("damped_rejections", "Rejections passed on without dropping the token: its replacement was rejected too.", func(s dingtoken.Stats) uint64 { return s.DampedRejections }),
		},
		keys: prometheus.NewDesc("dingtoken_keys", "Keys the Manager holds now; idle ones are forgotten.", nil, nil),

		servedTotal: perKey("tokens_served", "Tokens handed out per key, from memory or from the Store.", "source"),
		fetches:     perKey("fetches", "Calls to DingTalk's token endpoint per key."),
		fetchErrors: perKey("fetch_errors", "Failed token fetches per key, by class.", "class"),
		rejections:  perKey("rejections", "Tokens DingTalk rejected per key, by API and code.", "api", "code"),
		retries:     perKey("retries", "Requests sent again with a fresh token per key."),
		storeErrors: perKey("store_errors", "Failed Store and Locker calls per key, by operation.", "op"),
		lockWaits:   perKey("lock_waits", "Waits for another process's refresh per key, by how they ended.", "outcome"),
		background:  perKey("background_refreshes", "Refreshes started ahead of expiry per key."),
	}
}

// Describe sends the descriptions of every metric the Collector exports.
func (c *Collector) Describe(ch chan<- *prometheus.Desc) {
	d := &c.descs
	for _, s := range d.stats {
		ch <- s.desc
	}
	for _, desc := range []*prometheus.Desc{d.keys, d.servedTotal, d.fetches, d.fetchErrors, d.rejections, d.retries, d.storeErrors, d.lockWaits, d.background} {
		ch <- desc
	}
	c.fetchDuration.Describe(ch)
	c.lockWait.Describe(ch)
}

// Collect sends the Manager's Stats, and the per-key figures and
// histograms the hooks recorded.
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	d := &c.descs
	st := c.manager.Stats()
	for _, s := range d.stats {
		ch <- prometheus.MustNewConstMetric(s.desc, prometheus.CounterValue, float64(s.value(st)))
	}
	ch <- prometheus.MustNewConstMetric(d.keys, prometheus.GaugeValue, float64(st.Keys))
	c.keys.Range(func(key, f any) bool {
		c.collectKey(ch, key.(string), f.(*keyFigures))
		return true
	})
	if c.folded.Load() {
		c.collectKey(ch, OtherKey, &c.other)
	}
	c.fetchDuration.Collect(ch)
	c.lockWait.Collect(ch)
}

// collectKey sends one key's figures; a labelled count only once it has
// happened, so that a key does not bring every class and code with it.
func (c *Collector) collectKey(ch chan<- prometheus.Metric, key string, f *keyFigures) {
	d := &c.descs
	counter := func(desc *prometheus.Desc, v uint64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(desc, prometheus.CounterValue, float64(v), append([]string{key}, labels...)...)
	}
	counter(d.servedTotal, f.servedMemory.Load(), "memory")
	counter(d.servedTotal, f.servedStore.Load(), "store")
	counter(d.fetches, f.fetches.Load())
	counter(d.retries, f.retries.Load())
	counter(d.background, f.background.Load())
	f.mu.Lock()
	defer f.mu.Unlock()
	for class, n := range f.fetchErrors {
		counter(d.fetchErrors, n, class)
	}
	for ac, n := range f.rejections {
		counter(d.rejections, n, ac[0], ac[1])
	}
	for op, n := range f.storeErrors {
		counter(d.storeErrors, n, op)
	}
	for outcome, n := range f.lockWaits {
		counter(d.lockWaits, n, outcome)
	}
}
