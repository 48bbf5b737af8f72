package bench

import (
	"bufio"
	"flag"
	"fmt"
	"net/http"
	"os"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestSideBySide prints BENCHMARKS.md's figures, made by the interleaved
// method (interleave_test.go). It runs only when asked:
//
//	go test -run '^TestSideBySide$' -v -timeout 60m . -args -sidebyside all
//
// -sidebyside takes a comma-separated list of sections (hotpath, l1,
// loopback, cluster) or all; -rounds sets the rounds of the interleaved
// sections (hotpath, l1, loopback).
var (
	sections = flag.String("sidebyside", "", "sections of TestSideBySide to run: all, or a comma-separated list of hotpath, l1, loopback, cluster")
	rounds   = flag.Int("rounds", 200, "rounds of each interleaved comparison")
)

// goal is one line of the goals table.
type goal struct {
	what, measured, target string
	met                    bool
}

type report struct{ goals []goal }

func (r *report) goal(met bool, what, measured, target string) {
	r.goals = append(r.goals, goal{what, measured, target, met})
}

func verdict(met bool) string {
	if met {
		return "met"
	}
	return "**not met**"
}

func TestSideBySide(t *testing.T) {
	if *sections == "" {
		t.Skip("run with -args -sidebyside all (see make bench)")
	}
	want := func(s string) bool {
		return *sections == "all" || strings.Contains(","+*sections+",", ","+s+",")
	}
	machine()
	r := &report{}
	if want("hotpath") {
		hotPathSection(t, r)
	}
	if want("l1") {
		l1Section(t, r)
	}
	if want("loopback") {
		loopbackSection(t, r)
	}
	if want("cluster") {
		clusterSection(t, r)
	}
	fmt.Printf("\nCores free at the end: %.2f× (as at the start).\n", coresBusy())
	fmt.Print("\n### Goals\n\n")
	fmt.Println("| goal | measured | target | |")
	fmt.Println("| --- | --- | --- | --- |")
	for _, g := range r.goals {
		fmt.Printf("| %s | %s | %s | %s |\n", g.what, g.measured, g.target, verdict(g.met))
	}
}

// machine prints what the figures were measured on.
func machine() {
	model := "unknown"
	if f, err := os.Open("/proc/cpuinfo"); err == nil {
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			if k, v, ok := strings.Cut(sc.Text(), ":"); ok && strings.TrimSpace(k) == "model name" {
				model = strings.TrimSpace(v)
				break
			}
		}
		f.Close()
	}
	fmt.Printf("Machine: %d CPUs (nproc), %s, %s %s/%s, GOMAXPROCS %d; %s; %d rounds per interleaved comparison.\n",
		runtime.NumCPU(), model, runtime.Version(), runtime.GOOS, runtime.GOARCH, runtime.GOMAXPROCS(0),
		time.Now().UTC().Format("2006-01-02"), *rounds)
	fmt.Printf("Cores free at the start: the same CPU-bound work on %d goroutines at once took %.2f× as long as on one\n",
		runtime.GOMAXPROCS(0), coresBusy())
	fmt.Print("(1.00: every core free; 2.00 on 2 CPUs: one core's worth, as when they share a physical core or another process runs).\n")
}

// busySink keeps coresBusy's work from being optimised away.
var busySink atomic.Uint64

// coresBusy runs the same arithmetic on one goroutine and then on
// GOMAXPROCS goroutines at once, each doing as much, and returns the second
// time over the first (median of 5).
func coresBusy() float64 {
	work := func() uint64 {
		a, b, c, d := uint64(1), uint64(2), uint64(3), uint64(4)
		for range 20_000_000 {
			a = a*6364136223846793005 + 1
			b = b*6364136223846793005 + 3
			c = c*6364136223846793005 + 5
			d = d*6364136223846793005 + 7
		}
		return a ^ b ^ c ^ d
	}
	procs := runtime.GOMAXPROCS(0)
	var ratios []float64
	for range 5 {
		start := time.Now()
		busySink.Add(work())
		one := time.Since(start)
		start = time.Now()
		var wg sync.WaitGroup
		for range procs {
			wg.Go(func() { busySink.Add(work()) })
		}
		wg.Wait()
		ratios = append(ratios, float64(time.Since(start))/float64(one))
	}
	return spreadOf(ratios).median
}

// hotPathSection compares the transports per request over a no-op base,
// on one goroutine (what one request costs) and on every core at once.
func hotPathSection(t *testing.T, r *report) {
	fmt.Print("\n### Hot path: one request with a warm token over a no-op base\n\n")
	fmt.Println("Cost of one request in ns (median [IQR] over rounds; on all goroutines at once, elapsed time × goroutines")
	fmt.Println("/ requests) and, per round, our overhead over bare (ours − bare) divided by the floor's and by oauth2's,")
	fmt.Print("the floor's divided by oauth2's, and ours / bare.\n\n")
	fmt.Println("| placement | goroutines | bare | floor | oauth2 | dingtoken | overhead vs floor | overhead vs oauth2 | floor's vs oauth2's | ours / bare |")
	fmt.Println("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
	procs := runtime.GOMAXPROCS(0)
	const bare, floor, peer, ours = 0, 1, 2, 3
	type allocs struct{ n, bytes [4]float64 }
	perPlacement := map[string]allocs{}
	for _, p := range placements {
		cs := hotPathContenders(p)
		for _, goroutines := range []int{1, procs} {
			var batches []batch
			for _, c := range cs {
				if goroutines == 1 {
					req, _ := http.NewRequest("GET", p.url, nil)
					batches = append(batches, serial(20000, func(int) { mustSend(t, c.rt, req) }))
				} else {
					batches = append(batches, parallel(goroutines, 40000, true, func(int) func(int) {
						req, _ := http.NewRequest("GET", p.url, nil)
						return func(int) { mustSend(t, c.rt, req) }
					}))
				}
			}
			costs := interleave(*rounds, batches)
			vsFloor := spreadOf(perRound(costs, func(c []float64) float64 { return (c[ours] - c[bare]) / (c[floor] - c[bare]) }))
			vsPeer := spreadOf(perRound(costs, func(c []float64) float64 { return (c[ours] - c[bare]) / (c[peer] - c[bare]) }))
			floorVsPeer := spreadOf(perRound(costs, func(c []float64) float64 { return (c[floor] - c[bare]) / (c[peer] - c[bare]) }))
			vsBare := spreadOf(perRound(costs, func(c []float64) float64 { return c[ours] / c[bare] }))
			fmt.Printf("| %s | %d | %s | %s | %s | %s | %s | %s | %s | %s |\n", p.name, goroutines,
				spreadOf(column(costs, bare)).format(0), spreadOf(column(costs, floor)).format(0),
				spreadOf(column(costs, peer)).format(0), spreadOf(column(costs, ours)).format(0),
				vsFloor.format(2), vsPeer.format(2), floorVsPeer.format(2), vsBare.format(2))
			limit := map[string]float64{"header": 0.60, "query": 0.70}[p.name]
			r.goal(vsFloor.median <= 1.10, fmt.Sprintf("hot path, %s, %d goroutine(s): overhead / floor's", p.name, goroutines),
				vsFloor.format(2), "≤ 1.10")
			r.goal(vsPeer.median <= limit, fmt.Sprintf("hot path, %s, %d goroutine(s): overhead / oauth2's", p.name, goroutines),
				vsPeer.format(2), fmt.Sprintf("≤ %.2f", limit))
		}
		var a allocs
		for i, c := range cs {
			req, _ := http.NewRequest("GET", p.url, nil)
			a.n[i], a.bytes[i] = allocsPerOp(20000, func(int) { mustSend(t, c.rt, req) })
		}
		perPlacement[p.name] = a
	}
	fmt.Print("\nAllocations per request (objects, bytes):\n\n")
	fmt.Println("| placement | bare | floor | oauth2 | dingtoken |")
	fmt.Println("| --- | ---: | ---: | ---: | ---: |")
	for _, p := range placements {
		a := perPlacement[p.name]
		fmt.Printf("| %s | %.0f, %.0f B | %.0f, %.0f B | %.0f, %.0f B | %.0f, %.0f B |\n", p.name,
			a.n[bare], a.bytes[bare], a.n[floor], a.bytes[floor], a.n[peer], a.bytes[peer], a.n[ours], a.bytes[ours])
		r.goal(a.n[ours] <= a.n[floor]+1, fmt.Sprintf("hot path, %s: allocations per request", p.name),
			fmt.Sprintf("%.0f (floor %.0f)", a.n[ours], a.n[floor]), "≤ floor + 1")
	}
}

// mustSend is send for batches, which may run on goroutines of their own:
// an error there is a broken benchmark.
func mustSend(t *testing.T, rt http.RoundTripper, req *http.Request) {
	if err := send(rt, req); err != nil {
		panic(fmt.Sprintf("%s: %v", t.Name(), err))
	}
}
