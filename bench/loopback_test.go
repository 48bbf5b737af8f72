package bench

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/dingtoken/dingtoken"
)

// Whole requests over real HTTP to a server on 127.0.0.1, with and without
// the Transport, each over its own pooled http.Transport.

// loopbackServer answers every request with a small DingTalk answer.
func loopbackServer() *httptest.Server {
	return httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json;charset=utf-8")
		if r.URL.Path == "/topapi/v2/user/get" {
			io.WriteString(w, legacyAnswer)
		} else {
			io.WriteString(w, newAPIAnswer)
		}
	}))
}

// loopbackPaths are the two placements' requests, by path and query.
var loopbackPaths = []struct{ placement, path string }{
	{"header", "/v1.0/contact/users/me"},
	{"query", "/topapi/v2/user/get?userid=manager4220"},
}

// loopbackClients returns a client without a token transport (bare) and
// one with ours, each on a pool that keeps 64 connections.
func loopbackClients() (bare, ours *http.Client) {
	bare = &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	ours = &http.Client{Transport: &dingtoken.Transport{
		Fetcher: warmFetcher, Manager: &dingtoken.Manager{},
		Base: &http.Transport{MaxIdleConnsPerHost: 64}, Hosts: []string{"127.0.0.1"},
	}}
	return bare, ours
}

// getURL sends a GET to url and reads the answer; byHand puts the token on
// the request first, as a caller without a token transport would.
func getURL(c *http.Client, url string, byHand bool) error {
	req, err := http.NewRequest("GET", url, nil)
	if err != nil {
		return err
	}
	if byHand {
		if req.URL.RawQuery != "" {
			req.URL.RawQuery += "&access_token=" + benchTokenValue
		} else {
			req.Header["X-Acs-Dingtalk-Access-Token"] = []string{benchTokenValue}
		}
	}
	resp, err := c.Do(req)
	if err != nil {
		return err
	}
	io.Copy(io.Discard, resp.Body)
	return resp.Body.Close()
}

// BenchmarkLoopback: the classic form of the loopback comparison, for
// profiling; BENCHMARKS.md's figures come from TestSideBySide.
func BenchmarkLoopback(b *testing.B) {
	srv := loopbackServer()
	defer srv.Close()
	bare, ours := loopbackClients()
	defer bare.CloseIdleConnections()
	defer ours.CloseIdleConnections()
	for _, p := range loopbackPaths {
		for _, c := range []struct {
			name   string
			client *http.Client
		}{{"bare", bare}, {"dingtoken", ours}} {
			b.Run("placement="+p.placement+"/transport="+c.name, func(b *testing.B) {
				b.ReportAllocs()
				b.SetParallelism(4)
				b.RunParallel(func(pb *testing.PB) {
					for pb.Next() {
						if err := getURL(c.client, srv.URL+p.path, false); err != nil {
							b.Fatal(err)
						}
					}
				})
			})
		}
	}
}

// loopbackSection compares requests per second with and without the
// Transport at 1, 8 and 64 concurrent clients, interleaved. A third client,
// without the Transport, sends the same token put on each request by hand:
// the same bytes as ours, so that it shows what the server's reading of a
// token costs, apart from the Transport.
func loopbackSection(t *testing.T, r *report) {
	srv := loopbackServer()
	defer srv.Close()
	bare, ours := loopbackClients()
	byHand, _ := loopbackClients()
	for _, c := range []*http.Client{bare, ours, byHand} {
		defer c.CloseIdleConnections()
	}

	fmt.Print("\n### Loopback: whole requests to a server on 127.0.0.1\n\n")
	fmt.Print("Requests per second (median [IQR]) through a pooled http.Transport alone (bare), alone with the token put on\n")
	fmt.Print("each request by hand (same bytes on the wire as ours), and under dingtoken's Transport; per-round ratios of ours\n")
	fmt.Print("to bare and to by-hand. The server runs in the same process, on the same cores.\n\n")
	fmt.Println("| placement | clients | bare, req/s | by hand, req/s | dingtoken, req/s | ours / bare | ours / by hand |")
	fmt.Println("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
	for _, p := range loopbackPaths {
		url := srv.URL + p.path
		for _, clients := range []int{1, 8, 64} {
			n := max(500, 16*clients)
			var batches []batch
			for _, c := range []struct {
				client *http.Client
				byHand bool
			}{{bare, false}, {byHand, true}, {ours, false}} {
				batches = append(batches, parallel(clients, n, false, func(int) func(int) {
					return func(int) {
						if err := getURL(c.client, url, c.byHand); err != nil {
							panic(err)
						}
					}
				}))
			}
			costs := interleave(*rounds, batches)
			rate := func(i int) spread {
				return spreadOf(perRound(costs, func(c []float64) float64 { return 1e9 / c[i] }))
			}
			vsBare := spreadOf(perRound(costs, func(c []float64) float64 { return c[0] / c[2] }))
			vsHand := spreadOf(perRound(costs, func(c []float64) float64 { return c[1] / c[2] }))
			fmt.Printf("| %s | %d | %s | %s | %s | %s | %s |\n", p.placement, clients,
				rate(0).format(0), rate(1).format(0), rate(2).format(0), vsBare.format(3), vsHand.format(3))
			r.goal(vsBare.median >= 0.97, fmt.Sprintf("loopback, %s, %d clients: throughput ours / bare", p.placement, clients),
				vsBare.format(3), "≥ 0.97")
		}
	}
}
