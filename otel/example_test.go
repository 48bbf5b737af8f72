package dingtokenotel_test

import (
	"context"
	"fmt"
	"io"
	"net/http"

	"github.com/dingtoken/dingtoken"
	"github.com/dingtoken/dingtoken/dingtalktest"
	dingtokenotel "github.com/dingtoken/dingtoken/otel"
	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
)

// Metrics from the Manager's hooks, and spans from otelhttp outside the
// Transport: a revoked token shows as events on the request's one span.
func Example() {
	srv := dingtalktest.NewServer()
	defer srv.Close()
	srv.AddApp("ding-app", "app-secret")
	spans := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(spans)) // yours: otel.GetTracerProvider()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(sdkmetric.NewManualReader()))
	defer tp.Shutdown(context.Background())
	defer mp.Shutdown(context.Background())

	hooks, err := dingtokenotel.NewHooks(mp) // nil: the global MeterProvider
	if err != nil {
		panic(err)
	}
	manager := &dingtoken.Manager{Hooks: hooks}
	client := &http.Client{Transport: dingtokenotel.NewTransport(&dingtoken.Transport{
		Fetcher: &dingtoken.LegacyAppCredentials{AppKey: "ding-app", AppSecret: "app-secret", HTTPClient: srv.Client()},
		Manager: manager,
		Base:    srv.Transport(), // real code leaves Base nil
	}, otelhttp.WithTracerProvider(tp), otelhttp.WithMeterProvider(mp))}

	get := func() {
		resp, err := client.Get("https://oapi.dingtalk.com/topapi/v2/user/get")
		if err != nil {
			panic(err)
		}
		io.Copy(io.Discard, resp.Body) // the span ends with the body
		resp.Body.Close()
	}
	get()
	srv.RevokeAll() // DingTalk invalidates the token early
	get()
	for _, s := range spans.Ended() {
		fmt.Print(s.Name(), ":")
		for _, e := range s.Events() {
			fmt.Print(" ", e.Name)
		}
		fmt.Println()
	}
	// Output:
	// HTTP GET:
	// HTTP GET: token_rejected retried
}
