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

// roundTrip runs rt in parallel on one request per goroutine, reading and
// closing every response as a caller would.
func roundTrip(b *testing.B, rt http.RoundTripper, url string) {
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		req, _ := http.NewRequest("GET", url, nil)
		for pb.Next() {
			resp, err := rt.RoundTrip(req)
			if err != nil {
				b.Fatal(err)
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
	})
}

// BenchmarkHotPath: a warm token over a no-op base. bare is the base alone;
// the others add what a token transport costs per request.
func BenchmarkHotPath(b *testing.B) {
	newAPI := "https://api.dingtalk.com/v1.0/contact/users/me"
	legacy := "https://oapi.dingtalk.com/topapi/v2/user/get?userid=manager4220"
	ours := func(body string) http.RoundTripper {
		return &dingtoken.Transport{Fetcher: warmFetcher, Manager: &dingtoken.Manager{}, Base: noopBase{body}}
	}
	b.Run("placement=header/transport=bare", func(b *testing.B) { roundTrip(b, noopBase{newAPIAnswer}, newAPI) })
	b.Run("placement=header/transport=dingtoken", func(b *testing.B) { roundTrip(b, ours(newAPIAnswer), newAPI) })
	b.Run("placement=header/transport=oauth2", func(b *testing.B) {
		roundTrip(b, &oauth2.Transport{Source: oauth2.ReuseTokenSource(nil, staticSource{}), Base: noopBase{newAPIAnswer}}, newAPI)
	})
	b.Run("placement=query/transport=bare", func(b *testing.B) { roundTrip(b, noopBase{legacyAnswer}, legacy) })
	b.Run("placement=query/transport=dingtoken", func(b *testing.B) { roundTrip(b, ours(legacyAnswer), legacy) })
	b.Run("placement=query/transport=oauth2", func(b *testing.B) {
		roundTrip(b, &oauth2.Transport{Source: oauth2.ReuseTokenSource(nil, staticSource{}), Base: noopBase{legacyAnswer}}, legacy)
	})
}

// BenchmarkManagerToken: the L1 hit alone.
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
