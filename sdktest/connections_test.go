package sdktest

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	openapi "github.com/alibabacloud-go/darabonba-openapi/v2/client"
	"github.com/alibabacloud-go/tea/dara"
	"github.com/dingtoken/dingtoken"
)

// The runtime hands HttpClient.Call a new *http.Transport with every
// request. These tests and benchmarks measure the two things Call could do
// with it: ignore it and send through the Transport's Base, which keeps
// connections alive (what Call does), or send through it, which costs a new
// TCP and TLS handshake per request.

// tlsAPI is a DingTalk-like API over TLS on loopback that counts the
// connections opened to it.
type tlsAPI struct {
	srv   *httptest.Server
	conns atomic.Int32
}

func newTLSAPI(t testing.TB) *tlsAPI {
	a := &tlsAPI{}
	a.srv = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"result":{"userid":"manager4220","name":"张三"}}`)
	}))
	a.srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			a.conns.Add(1)
		}
	}
	a.srv.StartTLS()
	t.Cleanup(a.srv.Close)
	return a
}

// sdk returns a runtime client for the API, over https, with hc.
func (a *tlsAPI) sdk(t testing.TB, hc dara.HttpClient) *openapi.Client {
	c, err := openapi.NewClient(&openapi.Config{
		Endpoint:           dara.String(a.srv.Listener.Addr().String()),
		Protocol:           dara.String("HTTPS"),
		SignatureAlgorithm: dara.String("v2"),
		HttpClient:         hc,
	})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// transport is a dingtoken Transport for the API's loopback host, over base.
func (a *tlsAPI) transport(base http.RoundTripper) *dingtoken.Transport {
	f := dingtoken.FetcherFunc("bench:sdk", func(context.Context) (dingtoken.Token, error) {
		return dingtoken.Token{Value: "0123456789abcdef0123456789abcdef", Expiry: time.Now().Add(2 * time.Hour)}, nil
	})
	return &dingtoken.Transport{Fetcher: f, Manager: &dingtoken.Manager{}, Base: base, Hosts: []string{"127.0.0.1"}}
}

// perRequest is the alternative Call: a dingtoken Transport over the
// *http.Transport the runtime passed in, closed once its answer is read.
type perRequest struct{ tr *dingtoken.Transport }

func (p perRequest) Call(req *http.Request, fresh *http.Transport) (*http.Response, error) {
	tr := *p.tr
	tr.Base = fresh
	resp, err := tr.RoundTrip(req)
	if err != nil {
		fresh.CloseIdleConnections()
		return nil, err
	}
	resp.Body = closeWith{resp.Body, fresh.CloseIdleConnections}
	return resp, nil
}

type closeWith struct {
	io.ReadCloser
	after func()
}

func (c closeWith) Close() error {
	err := c.ReadCloser.Close()
	c.after()
	return err
}

// ignoreSSL makes the runtime's own transport accept the test server's
// certificate, as the keep-alive Base does through the server's client.
var ignoreSSL = &dara.RuntimeOptions{IgnoreSSL: dara.Bool(true)}

func callAPI(ctx context.Context, c *openapi.Client) error {
	params := &openapi.Params{
		Action: dara.String("GetUser"), Version: dara.String("contact_1.0"), Protocol: dara.String("HTTPS"),
		Pathname: dara.String("/v1.0/contact/users/me"), Method: dara.String("GET"), AuthType: dara.String("Anonymous"),
		Style: dara.String("ROA"), ReqBodyType: dara.String("json"), BodyType: dara.String("json"),
	}
	_, err := c.CallApiWithCtx(ctx, params, &openapi.OpenApiRequest{}, ignoreSSL)
	return err
}

// keepAliveBase is a client transport that trusts the test server, with
// room for the benchmark's parallel connections.
func keepAliveBase(a *tlsAPI) *http.Transport {
	base := a.srv.Client().Transport.(*http.Transport).Clone()
	base.MaxIdleConnsPerHost = 64
	return base
}

// TestCallKeepsConnectionsAlive: 20 SDK calls through the Transport use one
// connection; had Call used the runtime's transport, they would use 20.
func TestCallKeepsConnectionsAlive(t *testing.T) {
	ctx := context.Background()
	for _, tt := range []struct {
		name  string
		hc    func(a *tlsAPI, base *http.Transport) dara.HttpClient
		conns int32
	}{
		{"Transport.Call", func(a *tlsAPI, base *http.Transport) dara.HttpClient { return a.transport(base) }, 1},
		{"the runtime's transport", func(a *tlsAPI, base *http.Transport) dara.HttpClient { return perRequest{a.transport(base)} }, 20},
	} {
		t.Run(tt.name, func(t *testing.T) {
			a := newTLSAPI(t)
			base := keepAliveBase(a)
			defer base.CloseIdleConnections()
			sdk := a.sdk(t, tt.hc(a, base))
			for range 20 {
				if err := callAPI(ctx, sdk); err != nil {
					t.Fatal(err)
				}
			}
			if got := a.conns.Load(); got != tt.conns {
				t.Errorf("%d connections for 20 calls, want %d", got, tt.conns)
			}
		})
	}
}

// BenchmarkSDKCall: one SDK call over TLS on loopback, in parallel, through
// the Transport (Base kept alive) and through the runtime's per-request
// transport. The figures are in the README's "With DingTalk SDKs".
func BenchmarkSDKCall(b *testing.B) {
	ctx := context.Background()
	for _, tt := range []struct {
		name string
		hc   func(a *tlsAPI, base *http.Transport) dara.HttpClient
	}{
		{"base=keep-alive", func(a *tlsAPI, base *http.Transport) dara.HttpClient { return a.transport(base) }},
		{"base=per-request", func(a *tlsAPI, base *http.Transport) dara.HttpClient { return perRequest{a.transport(base)} }},
	} {
		b.Run(tt.name, func(b *testing.B) {
			a := newTLSAPI(b)
			base := keepAliveBase(a)
			defer base.CloseIdleConnections()
			sdk := a.sdk(b, tt.hc(a, base))
			b.ReportAllocs()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if err := callAPI(ctx, sdk); err != nil {
						b.Fatal(err)
					}
				}
			})
			b.StopTimer()
			b.ReportMetric(float64(a.conns.Load())/float64(b.N), "conns/op")
		})
	}
}
