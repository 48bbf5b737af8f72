package dingtokenotel

import (
	"context"
	"testing"
	"time"

	"github.com/dingtoken/dingtoken"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
)

// BenchmarkCacheHit: a token served from memory, without hooks and with
// NewHooks recording into the SDK.
func BenchmarkCacheHit(b *testing.B) {
	f := dingtoken.FetcherFunc("bench", func(context.Context) (dingtoken.Token, error) {
		return dingtoken.Token{Value: "bench-token", Expiry: time.Now().Add(time.Hour)}, nil
	})
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(sdkmetric.NewManualReader()))
	defer mp.Shutdown(context.Background())
	hooks, err := NewHooks(mp)
	if err != nil {
		b.Fatal(err)
	}
	for _, bb := range []struct {
		name  string
		hooks *dingtoken.Hooks
	}{{"no hooks", nil}, {"otel hooks", hooks}} {
		b.Run(bb.name, func(b *testing.B) {
			m := &dingtoken.Manager{Hooks: bb.hooks}
			ctx := context.Background()
			if _, err := m.Token(ctx, f); err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					m.Token(ctx, f)
				}
			})
		})
	}
}
