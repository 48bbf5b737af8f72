// Package dingtokenotel shows what a dingtoken Manager and its Transports do
// in OpenTelemetry, without ever handing a token or a secret to it.
//
// [NewHooks] returns hooks for Manager.Hooks that record metrics (fetches,
// fetch errors by class, fetch and lock-wait durations, tokens served from
// memory and from the Store, rejections, retries, Store errors, background
// refreshes) and add the span events "token_rejected" and "retried" to the
// span of the request DingTalk answered. [NewTransport] puts otelhttp
// outside a dingtoken Transport, where its spans see the caller's request
// and never the token the Transport adds:
//
//	hooks, err := dingtokenotel.NewHooks(nil) // the global MeterProvider
//	manager := &dingtoken.Manager{Hooks: hooks}
//	client := &http.Client{Transport: dingtokenotel.NewTransport(&dingtoken.Transport{Fetcher: creds, Manager: manager})}
//
// The package is named dingtokenotel, as otelhttp and redisotel are named,
// so that it sits beside go.opentelemetry.io/otel, which a program that sets
// up OpenTelemetry imports as otel, without an alias.
package dingtokenotel
