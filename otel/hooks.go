package dingtokenotel

import (
	"context"
	"sync"
	"sync/atomic"

	"github.com/dingtoken/dingtoken"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"
)

// ScopeName is the instrumentation scope of the metrics NewHooks records.
const ScopeName = "github.com/dingtoken/dingtoken/otel"

// The attributes of the metrics and span events. Every value is a key, a
// code, a class, a count or a duration: never a token or a secret.
const (
	attrKey        = attribute.Key("dingtoken.key")        // the Fetcher's key, e.g. app:<clientID>
	attrSource     = attribute.Key("dingtoken.source")     // memory, store
	attrBackground = attribute.Key("dingtoken.background") // a refresh ahead of expiry
	attrErrorType  = attribute.Key("error.type")           // a dingtoken.ErrorClass
	attrCode       = attribute.Key("dingtoken.code")       // DingTalk's code
	attrAPI        = attribute.Key("dingtoken.api")        // new, legacy
	attrStatus     = attribute.Key("http.response.status_code")
	attrDropped    = attribute.Key("dingtoken.dropped")      // the rejected token was dropped, and the request retried
	attrOutcome    = attribute.Key("dingtoken.lock.outcome") // token, lock, store_error, timeout
	attrOperation  = attribute.Key("dingtoken.store.operation")
	attrTimeout    = attribute.Key("dingtoken.store.timeout")
)

// Span event names, on the span of the request DingTalk answered.
const (
	EventTokenRejected = "token_rejected"
	EventRetried       = "retried"
)

// durationBuckets, in seconds: a token fetch takes tens of milliseconds to
// seconds (with the token endpoint's retries); a lock wait lasts up to the
// lock's 15 s.
var durationBuckets = []float64{0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10, 15, 20, 30}

// maxServedKeys bounds the keys dingtoken.token.served counts apart; tokens
// of keys beyond are counted under otherKey.
const (
	maxServedKeys = 500
	otherKey      = "other"
)

// NewHooks returns Hooks that record a Manager's events as metrics through
// mp (nil: the global MeterProvider) and put "token_rejected" and "retried"
// events on the span of the request DingTalk answered, the span in that
// request's context. Set them as Manager.Hooks, or join them with your own
// with dingtoken.JoinHooks.
//
// The metrics, each with the attribute dingtoken.key:
//
//	dingtoken.token.served         counter    dingtoken.source (memory: L1, store: L2)
//	dingtoken.fetches              counter    dingtoken.background
//	dingtoken.fetch.errors         counter    error.type (a dingtoken.ErrorClass), dingtoken.code
//	dingtoken.fetch.duration       histogram  s; error.type after a failure
//	dingtoken.lock.wait.duration   histogram  s; dingtoken.lock.outcome
//	dingtoken.rejections           counter    dingtoken.api, http.response.status_code, dingtoken.code, dingtoken.dropped
//	dingtoken.retries              counter
//	dingtoken.store.errors         counter    dingtoken.store.operation, dingtoken.store.timeout
//	dingtoken.background_refreshes counter
//
// The span events carry dingtoken.key, and token_rejected also the API,
// status, code and whether the token was dropped.
//
// Keys are as many as the Manager's. dingtoken.token.served, counted on
// every cache hit, keeps the first 500 keys apart and counts the tokens of
// any further key under dingtoken.key "other"; for the other metrics, the
// SDK folds attribute sets beyond its cardinality limit (2000 per metric by
// default) into one overflow series.
//
// Hooks of several Managers may record through one MeterProvider: their
// figures add up.
func NewHooks(mp metric.MeterProvider) (*dingtoken.Hooks, error) {
	r, err := newRecorder(mp)
	if err != nil {
		return nil, err
	}
	return r.hooks(), nil
}

func newRecorder(mp metric.MeterProvider) (*recorder, error) {
	if mp == nil {
		mp = otel.GetMeterProvider()
	}
	r := &recorder{}
	if err := r.init(mp.Meter(ScopeName, metric.WithInstrumentationVersion(version))); err != nil {
		return nil, err
	}
	return r, nil
}

func (r *recorder) hooks() *dingtoken.Hooks {
	return &dingtoken.Hooks{
		TokenServed:       r.tokenServed,
		FetchStart:        r.fetchStart,
		FetchDone:         r.fetchDone,
		LockWaited:        r.lockWaited,
		TokenRejected:     r.tokenRejected,
		Retried:           r.retried,
		StoreError:        r.storeError,
		BackgroundRefresh: r.backgroundRefresh,
	}
}

// version is this module's, as the instrumentation scope's version.
const version = "0.1.0"

type recorder struct {
	fetches, fetchErrors, rejections, retries, storeErrors, background metric.Int64Counter
	fetchDuration, lockWait                                            metric.Float64Histogram
	served                                                             metric.Int64ObservableCounter

	// Tokens served are counted here, per key, and observed when metrics
	// are collected: a cache hit costs a map load and an atomic add, about
	// 15 ns, where a synchronous measurement took 200 ns.
	servedKeys  sync.Map     // key -> *servedCount
	servedMu    sync.Mutex   // held while a key is added to servedKeys
	servedCount atomic.Int64 // entries in servedKeys, at most maxServedKeys
	servedOther *servedCount // keys beyond maxServedKeys
}

// servedCount counts one key's tokens served.
type servedCount struct {
	memory, store           atomic.Int64
	memoryAttrs, storeAttrs metric.ObserveOption
}

func newServedCount(key string) *servedCount {
	return &servedCount{
		memoryAttrs: metric.WithAttributeSet(attribute.NewSet(attrKey.String(key), attrSource.String(dingtoken.FromMemory.String()))),
		storeAttrs:  metric.WithAttributeSet(attribute.NewSet(attrKey.String(key), attrSource.String(dingtoken.FromStore.String()))),
	}
}

func (r *recorder) init(m metric.Meter) error {
	var err error
	counter := func(name, unit, desc string) metric.Int64Counter {
		if err != nil {
			return nil
		}
		var c metric.Int64Counter
		c, err = m.Int64Counter(name, metric.WithUnit(unit), metric.WithDescription(desc))
		return c
	}
	histogram := func(name, desc string) metric.Float64Histogram {
		if err != nil {
			return nil
		}
		var h metric.Float64Histogram
		h, err = m.Float64Histogram(name, metric.WithUnit("s"), metric.WithDescription(desc),
			metric.WithExplicitBucketBoundaries(durationBuckets...))
		return h
	}
	r.fetches = counter("dingtoken.fetches", "{fetch}", "Calls to DingTalk's token endpoint.")
	r.fetchErrors = counter("dingtoken.fetch.errors", "{error}", "Token fetches that failed, by class.")
	r.rejections = counter("dingtoken.rejections", "{rejection}", "Tokens DingTalk rejected.")
	r.retries = counter("dingtoken.retries", "{retry}", "Requests sent again with a fresh token after DingTalk rejected theirs.")
	r.storeErrors = counter("dingtoken.store.errors", "{error}", "Store and Locker calls that failed.")
	r.background = counter("dingtoken.background_refreshes", "{refresh}", "Refreshes started ahead of expiry while callers kept the current token.")
	r.fetchDuration = histogram("dingtoken.fetch.duration", "How long a call to DingTalk's token endpoint took.")
	r.lockWait = histogram("dingtoken.lock.wait.duration", "How long this process waited for another's refresh under the cluster lock.")
	if err != nil {
		return err
	}
	r.served, err = m.Int64ObservableCounter("dingtoken.token.served", metric.WithUnit("{token}"),
		metric.WithDescription("Tokens handed out from memory (L1) or adopted from the shared Store (L2)."))
	if err != nil {
		return err
	}
	r.servedOther = newServedCount(otherKey)
	_, err = m.RegisterCallback(r.observeServed, r.served)
	return err
}

// tokenServed runs on every cache hit.
func (r *recorder) tokenServed(info dingtoken.TokenServedInfo) {
	c := r.servedFor(info.Key)
	if info.Source == dingtoken.FromStore {
		c.store.Add(1)
		return
	}
	c.memory.Add(1)
}

// servedFor returns key's count; past maxServedKeys keys, the shared one
// of "other". A key is added under servedMu, so that no place is given
// and taken back, with counts added to it in between.
func (r *recorder) servedFor(key string) *servedCount {
	if c, ok := r.servedKeys.Load(key); ok {
		return c.(*servedCount)
	}
	if r.servedCount.Load() >= maxServedKeys {
		return r.servedOther
	}
	r.servedMu.Lock()
	defer r.servedMu.Unlock()
	if c, ok := r.servedKeys.Load(key); ok {
		return c.(*servedCount)
	}
	if r.servedCount.Load() >= maxServedKeys {
		return r.servedOther
	}
	c := newServedCount(key)
	r.servedKeys.Store(key, c)
	r.servedCount.Add(1)
	return c
}

// observeServed reports every key's tokens served.
func (r *recorder) observeServed(_ context.Context, o metric.Observer) error {
	observe := func(c *servedCount) {
		if n := c.memory.Load(); n > 0 {
			o.ObserveInt64(r.served, n, c.memoryAttrs)
		}
		if n := c.store.Load(); n > 0 {
			o.ObserveInt64(r.served, n, c.storeAttrs)
		}
	}
	r.servedKeys.Range(func(_, c any) bool {
		observe(c.(*servedCount))
		return true
	})
	observe(r.servedOther)
	return nil
}

func (r *recorder) fetchStart(info dingtoken.FetchStartInfo) {
	r.fetches.Add(orBackground(info.Context), 1, metric.WithAttributes(attrKey.String(info.Key), attrBackground.Bool(info.Background)))
}

func (r *recorder) fetchDone(info dingtoken.FetchDoneInfo) {
	ctx := orBackground(info.Context)
	if info.Err == "" {
		r.fetchDuration.Record(ctx, info.Duration.Seconds(), metric.WithAttributes(attrKey.String(info.Key)))
		return
	}
	r.fetchDuration.Record(ctx, info.Duration.Seconds(), metric.WithAttributes(attrKey.String(info.Key), attrErrorType.String(string(info.Err))))
	r.fetchErrors.Add(ctx, 1, metric.WithAttributes(attrKey.String(info.Key), attrErrorType.String(string(info.Err)), attrCode.String(info.Code)))
}

func (r *recorder) lockWaited(info dingtoken.LockWaitInfo) {
	r.lockWait.Record(context.Background(), info.Duration.Seconds(), metric.WithAttributes(attrKey.String(info.Key), attrOutcome.String(info.Outcome)))
}

func (r *recorder) tokenRejected(info dingtoken.TokenRejectedInfo) {
	ctx := orBackground(info.Context)
	attrs := []attribute.KeyValue{
		attrKey.String(info.Key),
		attrAPI.String(info.API),
		attrStatus.Int(info.Status),
		attrCode.String(info.Code),
		attrDropped.Bool(info.Dropped),
	}
	r.rejections.Add(ctx, 1, metric.WithAttributes(attrs...))
	trace.SpanFromContext(ctx).AddEvent(EventTokenRejected, trace.WithAttributes(attrs...))
}

func (r *recorder) retried(info dingtoken.RetriedInfo) {
	ctx := orBackground(info.Context)
	key := attrKey.String(info.Key)
	r.retries.Add(ctx, 1, metric.WithAttributes(key))
	trace.SpanFromContext(ctx).AddEvent(EventRetried, trace.WithAttributes(key))
}

func (r *recorder) storeError(info dingtoken.StoreErrorInfo) {
	r.storeErrors.Add(context.Background(), 1, metric.WithAttributes(attrKey.String(info.Key),
		attrOperation.String(info.Op), attrTimeout.Bool(info.Timeout)))
}

func (r *recorder) backgroundRefresh(info dingtoken.BackgroundRefreshInfo) {
	r.background.Add(context.Background(), 1, metric.WithAttributes(attrKey.String(info.Key)))
}

func orBackground(ctx context.Context) context.Context {
	if ctx == nil {
		return context.Background()
	}
	return ctx
}
