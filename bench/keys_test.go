package bench

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bradfitz/gomemcache/memcache"
	"github.com/dingtoken/dingtoken"
	"github.com/dingtoken/dingtoken/dingtalktest"
	"github.com/dingtoken/dingtoken/internal/memcachedtest"
)

// An ISV holds one corp token per authorising company: the cost of a cache
// hit with many keys, and the memory each key holds.

const (
	simEnv    = "DINGTOKEN_BENCH_SIM" // set in a child process that serves a simulator
	isvSuite  = "suite-bench"
	isvSecret = "suite-bench-secret"
	isvTicket = "suite-bench-ticket"
)

// serveSim runs a simulator with the ISV suite until stdin closes, and
// exits; its URL goes to stdout.
func serveSim() {
	sim := dingtalktest.NewServer()
	sim.AddSuite(isvSuite, isvSecret, isvTicket)
	fmt.Println(sim.URL)
	io.Copy(io.Discard, os.Stdin)
	sim.Close()
	os.Exit(0)
}

// startSim starts a simulator in a child process, so that the tokens it
// keeps do not weigh on this process's heap, and returns its URL.
func startSim(t testing.TB) string {
	t.Helper()
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), simEnv+"=1")
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		stdin.Close()
		cmd.Wait()
	})
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		t.Fatalf("the simulator did not start: %v", err)
	}
	return strings.TrimSpace(line)
}

// corpFetchers returns n CorpCredentials of one suite, one per corp, as an
// ISV holds them.
func corpFetchers(n int, simURL string, client *http.Client) []dingtoken.Fetcher {
	ticket := func(context.Context) (string, error) { return isvTicket, nil }
	fs := make([]dingtoken.Fetcher, n)
	for i := range fs {
		fs[i] = &dingtoken.CorpCredentials{
			SuiteKey: isvSuite, SuiteSecret: isvSecret, AuthCorpID: fmt.Sprintf("ding%028d", i),
			SuiteTicket: ticket, Endpoint: simURL, HTTPClient: client,
		}
	}
	return fs
}

// ptrFetcher and valFetcher are Fetchers of another package, by pointer
// and by value; their tokens come at once, without DingTalk.
type ptrFetcher struct{ key string }

func (f *ptrFetcher) Key() string { return f.key }
func (f *ptrFetcher) Fetch(context.Context) (dingtoken.Token, error) {
	return dingtoken.Token{Value: fmt.Sprintf("%032x", len(f.key)), Expiry: time.Now().Add(2 * time.Hour)}, nil
}

type valFetcher struct{ key string }

func (f valFetcher) Key() string { return f.key }
func (f valFetcher) Fetch(context.Context) (dingtoken.Token, error) {
	return dingtoken.Token{Value: fmt.Sprintf("%032x", len(f.key)), Expiry: time.Now().Add(2 * time.Hour)}, nil
}

// fill gets every fetcher's token into m, from several goroutines.
func fill(t testing.TB, m *dingtoken.Manager, fs []dingtoken.Fetcher) {
	t.Helper()
	const workers = 16
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for w := range workers {
		wg.Go(func() {
			for i := w; i < len(fs); i += workers {
				if _, err := m.Token(context.Background(), fs[i]); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}

// heapPerKey fills m with fs and returns the live heap it grew by, per key,
// once m's background work (lock releases) is done.
func heapPerKey(t testing.TB, m *dingtoken.Manager, fs []dingtoken.Fetcher) float64 {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	fill(t, m, fs)
	if err := m.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	runtime.KeepAlive(fs)
	runtime.KeepAlive(m)
	return (float64(after.HeapAlloc) - float64(before.HeapAlloc)) / float64(len(fs))
}

// l1Section measures cache hits with 1, 1,000 and 100,000 keys,
// round-robin, and the bytes each key holds.
func l1Section(t *testing.T, r *report) {
	const many, withStore = 100_000, 20_000
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 16}}
	defer client.CloseIdleConnections()
	simURL := startSim(t)

	corps := corpFetchers(many, simURL, client)
	m := &dingtoken.Manager{}
	bare := heapPerKey(t, m, corps)

	mc := memcachedtest.Start(t)
	stored := corpFetchers(withStore, simURL, client)
	for i, f := range stored {
		f.(*dingtoken.CorpCredentials).AuthCorpID = fmt.Sprintf("store%027d", i)
	}
	ms := &dingtoken.Manager{Store: dingtoken.NewMemcacheStore(memcache.New(mc.Addr))}
	if err := ms.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	withMemcached := heapPerKey(t, ms, stored)
	if err := ms.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}

	ptrs := make([]dingtoken.Fetcher, many)
	vals := make([]dingtoken.Fetcher, many)
	for i := range ptrs {
		ptrs[i] = &ptrFetcher{key: fmt.Sprintf("ptr:%028d", i)}
		vals[i] = valFetcher{key: fmt.Sprintf("val:%028d", i)}
	}
	mp, mv := &dingtoken.Manager{}, &dingtoken.Manager{}
	ptrBytes := heapPerKey(t, mp, ptrs)
	valBytes := heapPerKey(t, mv, vals)
	floor := floorKeys(many)

	fmt.Print("\n### L1 hit (Manager.Token): one key, and an ISV's many keys\n\n")
	fmt.Printf("Hits go round-robin over the first 1, 1,000 or %d fetchers of one Manager holding %d keys;\n", many, many)
	fmt.Printf("per-call cost in ns (median [IQR]); \"/ 1 key\" is the per-round ratio to the 1-key batch of the same round.\n\n")
	fmt.Println("| fetcher | keys | 1 goroutine | / 1 key | all cores, per call | / 1 key | allocs per hit |")
	fmt.Println("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
	sizes := []int{1, 1000, many}
	procs := runtime.GOMAXPROCS(0)
	managerHits := func(m *dingtoken.Manager, fs []dingtoken.Fetcher) func(size, start int) func(int) {
		return func(size, start int) func(int) { return hitter(m, fs[:size], start) }
	}
	for _, kind := range []struct {
		name  string
		hits  func(size, start int) func(int)
		goals bool
	}{
		{"*CorpCredentials", managerHits(m, corps), true},
		{"pointer of another package", managerHits(mp, ptrs), true},
		{"value of another package", managerHits(mv, vals), true},
		{"floor: one read of a key's own object", func(size, start int) func(int) { return floorHitter(floor[:size], start) }, false},
	} {
		var batches []batch
		for _, size := range sizes {
			batches = append(batches, serial(200_000, kind.hits(size, 0)))
		}
		for _, size := range sizes {
			batches = append(batches, parallel(procs, 200_000, true, func(w int) func(int) {
				return kind.hits(size, w*size/procs)
			}))
		}
		costs := interleave(*rounds, batches)
		for i, size := range sizes {
			one := spreadOf(column(costs, i))
			oneRatio := spreadOf(perRound(costs, func(c []float64) float64 { return c[i] / c[0] }))
			all := spreadOf(column(costs, len(sizes)+i))
			allRatio := spreadOf(perRound(costs, func(c []float64) float64 { return c[len(sizes)+i] / c[len(sizes)] }))
			allocs, _ := allocsPerOp(size*2, kind.hits(size, 0))
			fmt.Printf("| %s | %d | %s | %s | %s | %s | %.2f |\n", kind.name, size,
				one.format(1), oneRatio.format(2), all.format(1), allRatio.format(2), allocs)
			if size == many && kind.goals {
				r.goal(oneRatio.median <= 2 && allRatio.median <= 2,
					fmt.Sprintf("ISV scale, %s: hit cost at %d keys / 1 key (1 goroutine; all cores)", kind.name, many),
					fmt.Sprintf("%.2f; %.2f", oneRatio.median, allRatio.median), "≤ 2")
				r.goal(allocs == 0, fmt.Sprintf("ISV scale, %s: allocations per hit at %d keys", kind.name, many),
					fmt.Sprintf("%.2f", allocs), "0")
			}
		}
	}
	fmt.Print("\nThe floor is what memory adds to any per-key cache: a hit that reads the caller's Fetcher\n")
	fmt.Print("(a CorpCredentials with the pointer beside it, made in order) and then one 128-byte object of the key's,\n")
	fmt.Print("made when its token came, in random order as spread refreshes make them; nothing else.\n")
	fmt.Print("\nLive heap per key held (runtime.MemStats.HeapAlloc after GC, before and after the keys' first tokens;\n")
	fmt.Print("the fetchers themselves were made before and are not counted; the simulator runs in another process):\n\n")
	fmt.Println("| fetcher | Store | keys | bytes per key |")
	fmt.Println("| --- | --- | ---: | ---: |")
	fmt.Printf("| *CorpCredentials | none | %d | %.0f |\n", many, bare)
	fmt.Printf("| *CorpCredentials | memcached (sealed values) | %d | %.0f |\n", withStore, withMemcached)
	fmt.Printf("| pointer of another package | none | %d | %.0f |\n", many, ptrBytes)
	fmt.Printf("| value of another package | none | %d | %.0f |\n", many, valBytes)
	r.goal(bare <= 600, "ISV scale: bytes per *CorpCredentials key, no Store", fmt.Sprintf("%.0f", bare), "≤ 600")
	r.goal(withMemcached <= 600, "ISV scale: bytes per *CorpCredentials key, memcached Store", fmt.Sprintf("%.0f", withMemcached), "≤ 600")
}

// hitter returns an op that asks m for the tokens of fs in turn, from
// start on.
func hitter(m *dingtoken.Manager, fs []dingtoken.Fetcher, start int) func(int) {
	ctx := context.Background()
	c := &cursor{next: start % len(fs)}
	return func(int) {
		if _, err := m.Token(ctx, fs[c.next]); err != nil {
			panic(err)
		}
		if c.next++; c.next == len(fs) {
			c.next = 0
		}
	}
}

// cursor is a worker's place in its fetchers, alone on its cache lines so
// that workers on other cores do not share them.
type cursor struct {
	_    [64]byte
	next int
	_    [64]byte
}

// floorKey and floorToken model the least a per-key cache reads on a hit:
// the caller's Fetcher, and one object of the key's that a refresh
// replaces, as large as the Manager's entry.
type floorKey struct {
	creds dingtoken.CorpCredentials
	token atomic.Pointer[floorToken]
}

type floorToken struct {
	dingtoken.Token
	_ [88]byte // 128 bytes in all
}

// floorKeys makes n floorKeys in order and their tokens in random order,
// the order in which refreshes spread over their window replace them.
func floorKeys(n int) []*floorKey {
	keys := make([]*floorKey, n)
	for i := range keys {
		keys[i] = &floorKey{creds: dingtoken.CorpCredentials{AuthCorpID: fmt.Sprintf("ding%028d", i)}}
	}
	expiry := time.Now().Add(2 * time.Hour)
	for _, i := range rand.Perm(n) {
		keys[i].token.Store(&floorToken{Token: dingtoken.Token{Value: fmt.Sprintf("%032x", i), Expiry: expiry}})
	}
	return keys
}

// floorHitter is hitter for floorKeys.
func floorHitter(keys []*floorKey, start int) func(int) {
	c := &cursor{next: start % len(keys)}
	return func(int) {
		if keys[c.next].token.Load().Value == "" {
			panic("no token")
		}
		if c.next++; c.next == len(keys) {
			c.next = 0
		}
	}
}
