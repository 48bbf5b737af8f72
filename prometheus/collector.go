// Package dingtokenprometheus exports a dingtoken Manager's figures to
// Prometheus: its Stats as counters, and per-key figures, fed by the
// Manager's hooks, under a key label whose values are bounded.
//
//	collector := dingtokenprometheus.NewCollector(manager)
//	manager.Hooks = dingtoken.JoinHooks(manager.Hooks, collector.Hooks()) // before the Manager's first use
//	prometheus.MustRegister(collector)
//
// The package is named dingtokenprometheus, as go-redis names its
// redisprometheus, so that it sits beside client_golang's prometheus
// package, which registering a collector needs, without an alias.
package dingtokenprometheus

import (
	"strings"
	"sync"
	"sync/atomic"
	"unicode/utf8"

	"github.com/dingtoken/dingtoken"
	"github.com/prometheus/client_golang/prometheus"
)

// DefaultMaxKeys is how many keys a Collector labels apart when MaxKeys is
// zero.
const DefaultMaxKeys = 100

// OtherKey is the key label under which the figures of keys beyond MaxKeys
// are summed, along with those of a key named "other" itself.
const OtherKey = "other"

// Collector is a prometheus.Collector of one Manager's figures:
//
//   - the Manager's Stats, as counters without labels (dingtoken_fetches_total,
//     dingtoken_l1_hits_total, ...) and the gauge dingtoken_keys;
//   - per key, from the Manager's hooks, counters with a key label
//     (dingtoken_key_fetches_total{key}, dingtoken_key_rejections_total{key,api,code}, ...);
//   - histograms of fetch and lock-wait durations, from the hooks.
//
// The key label is bounded: the first MaxKeys keys the hooks see have their
// own; the figures of every further key are summed under key="other". So a
// Collector exports at most MaxKeys+1 key values, however many corps an ISV
// serves. No figure holds a token or a secret: keys, classes, codes, counts
// and durations only.
//
// Register a Collector once, and set its hooks on its Manager, joined with
// any others, before the Manager's first use: figures the hooks did not see
// are in the Stats counters only.
type Collector struct {
	// MaxKeys is how many keys have a key label of their own. If zero,
	// DefaultMaxKeys is used. Set it before the hooks see a key.
	MaxKeys int

	manager *dingtoken.Manager
	descs   descs

	keys   sync.Map    // key -> *keyFigures, at most MaxKeys
	mu     sync.Mutex  // serialises adding to keys
	nKeys  int         // guarded by mu: entries in keys
	full   atomic.Bool // keys holds MaxKeys entries: further keys are other's
	other  keyFigures  // the figures of keys beyond MaxKeys
	folded atomic.Bool // other has figures

	fetchDuration, lockWait prometheus.Histogram
}

// NewCollector returns a Collector of m's figures. Set its Hooks on m, and
// register it.
func NewCollector(m *dingtoken.Manager) *Collector {
	return &Collector{
		manager: m,
		descs:   newDescs(),
		fetchDuration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "dingtoken_fetch_duration_seconds",
			Help:    "How long a call to DingTalk's token endpoint took.",
			Buckets: durationBuckets,
		}),
		lockWait: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "dingtoken_lock_wait_duration_seconds",
			Help:    "How long this process waited for another's refresh under the cluster lock.",
			Buckets: durationBuckets,
		}),
	}
}

// durationBuckets, in seconds: a token fetch takes tens of milliseconds to
// seconds (with the token endpoint's retries); a lock wait lasts up to the
// lock's 15 s.
var durationBuckets = []float64{0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 30}

// keyFigures counts one key's events. The labelled counts are keyed by
// values from small fixed sets: error classes, APIs and rejection codes,
// Store operations, lock-wait outcomes.
type keyFigures struct {
	servedMemory, servedStore, fetches, retries, background atomic.Uint64

	mu          sync.Mutex
	fetchErrors map[string]uint64    // guarded by mu: by class
	rejections  map[[2]string]uint64 // guarded by mu: by API and code
	storeErrors map[string]uint64    // guarded by mu: by operation
	lockWaits   map[string]uint64    // guarded by mu: by outcome
}

// count adds one to m[label], m guarded by f.mu and made on first use.
func count[K comparable](f *keyFigures, m *map[K]uint64, label K) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if *m == nil {
		*m = make(map[K]uint64)
	}
	(*m)[label]++
}

func (c *Collector) maxKeys() int {
	if c.MaxKeys > 0 {
		return c.MaxKeys
	}
	return DefaultMaxKeys
}

// figures returns key's figures, or other's once MaxKeys keys have theirs.
// A key that is not valid UTF-8, which a label value must be, is counted
// under its valid form. A key named OtherKey is counted as other's: with a
// place of its own, Collect would send its series and other's under the
// same labels, which fails the registry's whole gathering.
func (c *Collector) figures(key string) *keyFigures {
	if !utf8.ValidString(key) {
		key = strings.ToValidUTF8(key, "\uFFFD")
	}
	if f, ok := c.keys.Load(key); ok {
		return f.(*keyFigures)
	}
	if key == OtherKey || c.full.Load() {
		c.folded.Store(true)
		return &c.other
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if f, ok := c.keys.Load(key); ok {
		return f.(*keyFigures)
	}
	if c.nKeys >= c.maxKeys() {
		c.full.Store(true)
		c.folded.Store(true)
		return &c.other
	}
	f := &keyFigures{}
	c.keys.Store(key, f)
	c.nKeys++
	return f
}

// Hooks returns the hooks that feed the Collector's per-key figures and
// histograms. Set them as the Manager's Hooks, or join them with others
// (dingtoken.JoinHooks), before the Manager's first use.
func (c *Collector) Hooks() *dingtoken.Hooks {
	return &dingtoken.Hooks{
		TokenServed: func(info dingtoken.TokenServedInfo) {
			f := c.figures(info.Key)
			if info.Source == dingtoken.FromStore {
				f.servedStore.Add(1)
				return
			}
			f.servedMemory.Add(1)
		},
		FetchStart: func(info dingtoken.FetchStartInfo) {
			c.figures(info.Key).fetches.Add(1)
		},
		FetchDone: func(info dingtoken.FetchDoneInfo) {
			c.fetchDuration.Observe(info.Duration.Seconds())
			if info.Err != "" {
				f := c.figures(info.Key)
				count(f, &f.fetchErrors, string(info.Err))
			}
		},
		LockWaited: func(info dingtoken.LockWaitInfo) {
			c.lockWait.Observe(info.Duration.Seconds())
			f := c.figures(info.Key)
			count(f, &f.lockWaits, info.Outcome)
		},
		TokenRejected: func(info dingtoken.TokenRejectedInfo) {
			f := c.figures(info.Key)
			count(f, &f.rejections, [2]string{info.API, info.Code})
		},
		Retried: func(info dingtoken.RetriedInfo) {
			c.figures(info.Key).retries.Add(1)
		},
		StoreError: func(info dingtoken.StoreErrorInfo) {
			f := c.figures(info.Key)
			count(f, &f.storeErrors, info.Op)
		},
		BackgroundRefresh: func(info dingtoken.BackgroundRefreshInfo) {
			c.figures(info.Key).background.Add(1)
		},
	}
}
