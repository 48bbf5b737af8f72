package sdktest

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/alibabacloud-go/tea/dara"
	"github.com/dingtoken/dingtoken"
)

// proxyRecorder records the Proxy-Authorization headers of the requests
// it sends on to next.
type proxyRecorder struct {
	next http.RoundTripper
	mu   sync.Mutex
	seen []string
}

func (p *proxyRecorder) RoundTrip(r *http.Request) (*http.Response, error) {
	p.mu.Lock()
	for k, vs := range r.Header {
		if strings.EqualFold(k, "Proxy-Authorization") {
			p.seen = append(p.seen, vs...)
		}
	}
	p.mu.Unlock()
	return p.next.RoundTrip(r)
}

// TestSDKProxyPasswordStaysHome: the runtime puts the user and password of
// its proxy (here RuntimeOptions.HttpProxy; HTTP_PROXY in the environment
// does the same) on the request, for the transport it builds. Call does
// not use that transport, so the header must not go on to DingTalk.
func TestSDKProxyPasswordStaysHome(t *testing.T) {
	srv := newSim(t)
	wire := &proxyRecorder{next: srv.Transport()}
	sdk := newSDK(t, &dingtoken.Transport{Fetcher: creds(srv), Manager: &dingtoken.Manager{}, Base: wire})
	runtime := &dara.RuntimeOptions{HttpProxy: dara.String("http://proxy-user:proxy-password-6d1e@127.0.0.1:9")}
	out, err := getUserMeWith(context.Background(), sdk, nil, runtime)
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(out["statusCode"]) != "200" {
		t.Errorf("answer %v, want 200", out)
	}
	if len(wire.seen) != 0 {
		t.Errorf("sent Proxy-Authorization %q to DingTalk, want none", wire.seen)
	}
}
