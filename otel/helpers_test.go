package dingtokenotel

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/dingtoken/dingtoken/dingtalktest"
	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/exemplar"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const (
	testClientID = "ding-otel-test-app"
	testSecret   = "app-secret-0tel7c4d2b"
)

// newSim starts a simulator that knows the test app.
func newSim(t testing.TB) *dingtalktest.Server {
	t.Helper()
	srv := dingtalktest.NewServer()
	t.Cleanup(srv.Close)
	srv.AddApp(testClientID, testSecret)
	return srv
}

// telemetry is an SDK tracer and meter provider whose spans and metrics
// stay in memory, for tests to read.
type telemetry struct {
	spans  *tracetest.SpanRecorder
	tp     *sdktrace.TracerProvider
	reader *sdkmetric.ManualReader
	mp     *sdkmetric.MeterProvider
}

func newTelemetry(t *testing.T) *telemetry {
	t.Helper()
	tel := &telemetry{spans: tracetest.NewSpanRecorder(), reader: sdkmetric.NewManualReader()}
	tel.tp = sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(tel.spans), sdktrace.WithSampler(sdktrace.AlwaysSample()))
	// Exemplars of every measurement, so that their attributes are searched too.
	tel.mp = sdkmetric.NewMeterProvider(sdkmetric.WithReader(tel.reader), sdkmetric.WithExemplarFilter(exemplar.AlwaysOnFilter))
	t.Cleanup(func() {
		tel.tp.Shutdown(context.Background())
		tel.mp.Shutdown(context.Background())
	})
	return tel
}

// metrics collects every metric recorded so far.
func (tel *telemetry) metrics(t *testing.T) metricdata.ResourceMetrics {
	t.Helper()
	var rm metricdata.ResourceMetrics
	if err := tel.reader.Collect(context.Background(), &rm); err != nil {
		t.Fatal(err)
	}
	return rm
}

// texts returns every piece of text the telemetry holds: each span's name,
// attributes, events and their attributes, status, links; each metric's
// data points' attributes and exemplars; and all of it as JSON besides.
func (tel *telemetry) texts(t *testing.T) []string {
	t.Helper()
	var out []string
	attrs := func(kvs []attribute.KeyValue) {
		for _, kv := range kvs {
			out = append(out, string(kv.Key), kv.Value.Emit())
		}
	}
	ended := tel.spans.Ended()
	if len(tel.spans.Started()) != len(ended) {
		t.Errorf("%d spans started, %d ended: the open ones are not searched", len(tel.spans.Started()), len(ended))
	}
	for _, s := range ended {
		out = append(out, s.Name(), s.Status().Description)
		attrs(s.Attributes())
		for _, e := range s.Events() {
			out = append(out, e.Name)
			attrs(e.Attributes)
		}
		for _, l := range s.Links() {
			attrs(l.Attributes)
		}
		attrs(s.Resource().Attributes())
	}
	stubs, err := json.Marshal(tracetest.SpanStubsFromReadOnlySpans(ended))
	if err != nil {
		t.Fatal(err)
	}
	out = append(out, string(stubs), fmt.Sprintf("%+v", tracetest.SpanStubsFromReadOnlySpans(ended)))

	rm := tel.metrics(t)
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			out = append(out, m.Name, m.Description)
			switch d := m.Data.(type) {
			case metricdata.Sum[int64]:
				for _, p := range d.DataPoints {
					attrs(p.Attributes.ToSlice())
					for _, e := range p.Exemplars {
						attrs(e.FilteredAttributes)
					}
				}
			case metricdata.Sum[float64]:
				for _, p := range d.DataPoints {
					attrs(p.Attributes.ToSlice())
				}
			case metricdata.Histogram[float64]:
				for _, p := range d.DataPoints {
					attrs(p.Attributes.ToSlice())
					for _, e := range p.Exemplars {
						attrs(e.FilteredAttributes)
					}
				}
			case metricdata.Histogram[int64]:
				for _, p := range d.DataPoints {
					attrs(p.Attributes.ToSlice())
				}
			case metricdata.Gauge[int64]:
				for _, p := range d.DataPoints {
					attrs(p.Attributes.ToSlice())
				}
			default:
				t.Errorf("metric %s has data of type %T, not searched", m.Name, m.Data)
			}
		}
	}
	all, err := json.Marshal(rm)
	if err != nil {
		t.Fatal(err)
	}
	return append(out, string(all))
}

// leaks returns the secrets that appear anywhere in the telemetry.
func (tel *telemetry) leaks(t *testing.T, secrets []string) []string {
	t.Helper()
	var found []string
	texts := tel.texts(t)
	for _, s := range secrets {
		for _, text := range texts {
			if s != "" && strings.Contains(text, s) {
				found = append(found, s)
				break
			}
		}
	}
	return found
}

// findMetric returns the metric called name, or fails.
func findMetric(t *testing.T, rm metricdata.ResourceMetrics, name string) metricdata.Metrics {
	t.Helper()
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			if m.Name == name {
				return m
			}
		}
	}
	t.Fatalf("no metric %s", name)
	return metricdata.Metrics{}
}

// has reports whether set holds every one of want.
func has(set attribute.Set, want []attribute.KeyValue) bool {
	for _, kv := range want {
		if v, ok := set.Value(kv.Key); !ok || v != kv.Value {
			return false
		}
	}
	return true
}

// sum adds up the counter name's data points that have every one of attrs.
func sum(t *testing.T, rm metricdata.ResourceMetrics, name string, attrs ...attribute.KeyValue) int64 {
	t.Helper()
	d, ok := findMetric(t, rm, name).Data.(metricdata.Sum[int64])
	if !ok {
		t.Fatalf("metric %s is not an int64 sum", name)
	}
	var n int64
	for _, p := range d.DataPoints {
		if has(p.Attributes, attrs) {
			n += p.Value
		}
	}
	return n
}

// count adds up the histogram name's counts of data points that have every
// one of attrs.
func count(t *testing.T, rm metricdata.ResourceMetrics, name string, attrs ...attribute.KeyValue) uint64 {
	t.Helper()
	d, ok := findMetric(t, rm, name).Data.(metricdata.Histogram[float64])
	if !ok {
		t.Fatalf("metric %s is not a float64 histogram", name)
	}
	var n uint64
	for _, p := range d.DataPoints {
		if has(p.Attributes, attrs) {
			n += p.Count
		}
	}
	return n
}

// get sends a GET for u through c, reads the answer whole, and returns its
// status (0 with the error).
func get(ctx context.Context, c *http.Client, u string) (int, error) {
	req, err := http.NewRequestWithContext(ctx, "GET", u, nil)
	if err != nil {
		return 0, err
	}
	resp, err := c.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	io.Copy(io.Discard, resp.Body)
	return resp.StatusCode, nil
}
