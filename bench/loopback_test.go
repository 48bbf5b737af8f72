package bench

import (
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/dingtoken/dingtoken"
)

// BenchmarkLoopback: whole requests over real HTTP to a server on
// 127.0.0.1, with and without the Transport, on the legacy path (token in the
// query, every answer inspected), the Transport's most expensive case.
func BenchmarkLoopback(b *testing.B) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json;charset=utf-8")
		io.WriteString(w, legacyAnswer)
	}))
	defer srv.Close()
	url := srv.URL + "/topapi/v2/user/get?userid=manager4220"
	newBase := func() *http.Transport {
		return &http.Transport{MaxIdleConnsPerHost: 64}
	}

	b.Run("transport=bare", func(b *testing.B) {
		base := newBase()
		defer base.CloseIdleConnections()
		loop(b, &http.Client{Transport: base}, url)
	})
	b.Run("transport=dingtoken", func(b *testing.B) {
		base := newBase()
		defer base.CloseIdleConnections()
		c := &http.Client{Transport: &dingtoken.Transport{
			Fetcher: warmFetcher, Manager: &dingtoken.Manager{}, Base: base, Hosts: []string{"127.0.0.1"},
		}}
		loop(b, c, url)
	})
}

func loop(b *testing.B, c *http.Client, url string) {
	b.ReportAllocs()
	b.SetParallelism(4)
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			resp, err := c.Get(url)
			if err != nil {
				b.Fatal(err)
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
	})
}
