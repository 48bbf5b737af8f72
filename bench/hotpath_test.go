package bench

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/dingtoken/dingtoken"
	"golang.org/x/oauth2"
)

// Small DingTalk answers, as the no-op base returns them, so that the
// response inspection runs as it does in production.
const (
	newAPIAnswer    = `{"result":{"userid":"manager4220","name":"张三","unionid":"xyz"},"success":true,"request_id":"5B1A8F1C9C1E"}`
	legacyAnswer    = `{"errcode":0,"errmsg":"ok","result":{"userid":"manager4220","name":"张三"},"request_id":"5B1A8F1C9C1E"}`
	benchTokenValue = "0123456789abcdef0123456789abcdef"

	newAPIURL = "https://api.dingtalk.com/v1.0/contact/users/me"
	legacyURL = "https://oapi.dingtalk.com/topapi/v2/user/get?userid=manager4220"
)

// noopBase answers every request at once with body, without a network.
type noopBase struct{ body string }

func (b noopBase) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.Body != nil {
		req.Body.Close()
	}
	return &http.Response{
		StatusCode:    200,
		Header:        http.Header{"Content-Type": {"application/json;charset=utf-8"}},
		ContentLength: int64(len(b.body)),
		Body:          io.NopCloser(strings.NewReader(b.body)),
		Request:       req,
	}, nil
}

// warmFetcher hands out one long-lived token.
var warmFetcher = dingtoken.FetcherFunc("bench:warm", func(context.Context) (dingtoken.Token, error) {
	return dingtoken.Token{Value: benchTokenValue, Expiry: time.Now().Add(2 * time.Hour)}, nil
})

// staticSource is oauth2's side of warmFetcher.
type staticSource struct{}

func (staticSource) Token() (*oauth2.Token, error) {
	return &oauth2.Token{AccessToken: benchTokenValue, Expiry: time.Now().Add(2 * time.Hour)}, nil
}

// contender is one RoundTripper of a side-by-side comparison.
type contender struct {
	name string
	rt   http.RoundTripper
}

// placement is one way of sending the token: in the new API's header, or
// in the legacy API's query, where every answer is inspected.
type placement struct {
	name   string
	url    string
	answer string
}

var placements = []placement{
	{"header", newAPIURL, newAPIAnswer},
	{"query", legacyURL, legacyAnswer},
}

// hotPathContenders are the transports compared on the hot path, over a
// no-op base answering p's answer: the base alone (bare), the least a token
// transport must do (floor), golang.org/x/oauth2's Transport, and ours,
// each with a warm token.
func hotPathContenders(p placement) []contender {
	base := noopBase{p.answer}
	var floor http.RoundTripper = newHeaderFloor(base, benchTokenValue)
	if p.name == "query" {
		floor = newQueryFloor(base, benchTokenValue)
	}
	ours := &dingtoken.Transport{Fetcher: warmFetcher, Manager: &dingtoken.Manager{}, Base: base}
	if _, err := ours.Manager.Token(context.Background(), warmFetcher); err != nil {
		panic(err)
	}
	return []contender{
		{"bare", base},
		{"floor", floor},
		{"oauth2", &oauth2.Transport{Source: oauth2.ReuseTokenSource(nil, staticSource{}), Base: base}},
		{"dingtoken", ours},
	}
}

// send makes one request through rt and reads and closes the answer, as a
// caller would.
func send(rt http.RoundTripper, req *http.Request) error {
	resp, err := rt.RoundTrip(req)
	if err != nil {
		return err
	}
	io.Copy(io.Discard, resp.Body)
	return resp.Body.Close()
}

// BenchmarkHotPath: a warm token over a no-op base, one request per
// goroutine on every core. These classic figures serve profiling
// (-cpuprofile); BENCHMARKS.md's figures come from TestSideBySide, which
// interleaves the contenders.
func BenchmarkHotPath(b *testing.B) {
	for _, p := range placements {
		for _, c := range hotPathContenders(p) {
			b.Run("placement="+p.name+"/transport="+c.name, func(b *testing.B) {
				b.ReportAllocs()
				b.RunParallel(func(pb *testing.PB) {
					req, _ := http.NewRequest("GET", p.url, nil)
					for pb.Next() {
						if err := send(c.rt, req); err != nil {
							b.Fatal(err)
						}
					}
				})
			})
		}
	}
}

// BenchmarkManagerToken: the L1 hit alone, on one goroutine per core; ns/op
// is wall time per hit with all cores busy, not what one hit costs (see
// TestSideBySide for that).
func BenchmarkManagerToken(b *testing.B) {
	m := &dingtoken.Manager{}
	ctx := context.Background()
	if _, err := m.Token(ctx, warmFetcher); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			m.Token(ctx, warmFetcher)
		}
	})
}
