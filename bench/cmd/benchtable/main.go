// Command benchtable reads `go test -bench` output of the bench module on
// stdin (any -count) and prints a BENCHMARKS.md table of the classic
// benchmarks (storms, the expiry boundary, a first token, Store round
// trips): medians of every metric and whether each goal is met. The
// side-by-side comparisons are TestSideBySide's, which prints its own tables.
package main

import (
	"bufio"
	"fmt"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// results maps a benchmark name (without the -GOMAXPROCS suffix) and a unit
// to every value measured.
type results map[string]map[string][]float64

var procSuffix = regexp.MustCompile(`-\d+$`)

func parse(sc *bufio.Scanner) results {
	r := results{}
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 4 || !strings.HasPrefix(f[0], "Benchmark") {
			continue
		}
		name := procSuffix.ReplaceAllString(strings.TrimPrefix(f[0], "Benchmark"), "")
		if r[name] == nil {
			r[name] = map[string][]float64{}
		}
		for i := 2; i+1 < len(f); i += 2 {
			if v, err := strconv.ParseFloat(f[i], 64); err == nil {
				r[name][f[i+1]] = append(r[name][f[i+1]], v)
			}
		}
	}
	return r
}

// median of name's unit, or NaN-free 0 if missing.
func (r results) median(name, unit string) float64 {
	v := slices.Clone(r[name][unit])
	if len(v) == 0 {
		return 0
	}
	slices.Sort(v)
	if len(v)%2 == 1 {
		return v[len(v)/2]
	}
	return (v[len(v)/2-1] + v[len(v)/2]) / 2
}

func (r results) runs(name string) int {
	n := 0
	for _, v := range r[name] {
		n = max(n, len(v))
	}
	return n
}

func verdict(ok bool) string {
	if ok {
		return "met"
	}
	return "**missed**"
}

func main() {
	r := parse(bufio.NewScanner(os.Stdin))
	if len(r) == 0 {
		fmt.Fprintln(os.Stderr, "benchtable: no benchmark lines on stdin")
		os.Exit(1)
	}

	fmt.Println("| benchmark | runs | ns/op | B/op | allocs/op | other (median) |")
	fmt.Println("| --- | ---: | ---: | ---: | ---: | --- |")
	names := make([]string, 0, len(r))
	for n := range r {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, n := range names {
		var other []string
		for unit := range r[n] {
			switch unit {
			case "ns/op", "B/op", "allocs/op":
			default:
				other = append(other, fmt.Sprintf("%g %s", r.median(n, unit), unit))
			}
		}
		slices.Sort(other)
		fmt.Printf("| %s | %d | %.1f | %.0f | %.0f | %s |\n", n, r.runs(n),
			r.median(n, "ns/op"), r.median(n, "B/op"), r.median(n, "allocs/op"), strings.Join(other, ", "))
	}

	fmt.Println()
	fmt.Println("| goal | measured | target | |")
	fmt.Println("| --- | ---: | ---: | --- |")
	for _, s := range []string{"StormColdStart", "StormRevoked", "StormProcesses"} {
		all := r[s]["fetches/storm"]
		worst := 0.0
		for _, v := range all {
			worst = max(worst, v)
		}
		fmt.Printf("| %s: token fetches per storm, worst run | %g | 1 | %s |\n", s, worst, verdict(len(all) > 0 && worst == 1))
	}
	steady := r.median("ExpiryBoundary/token=steady", "p99-µs")
	on := r.median("ExpiryBoundary/token=expiring/refresh-ahead=on", "p99-µs")
	off := r.median("ExpiryBoundary/token=expiring/refresh-ahead=off", "p99-µs")
	if steady > 0 {
		fmt.Printf("| expiry boundary p99, refresh-ahead on / steady | %.2f (%.0f µs vs %.0f µs) | ≤ 1.5 | %s |\n", on/steady, on, steady, verdict(on <= 1.5*steady))
		fmt.Printf("| expiry boundary p99, refresh-ahead off | %.0f µs | shows the 200 ms | %s |\n", off, verdict(off >= 100_000))
	}
	mc, dt := r.median("FirstToken/source=memcached", "ns/op"), r.median("FirstToken/source=dingtalk", "ns/op")
	if mc > 0 {
		fmt.Printf("| a cold process's first token: memcached vs DingTalk (50 ms) | %.2f ms vs %.1f ms | (no target) | |\n", mc/1e6, dt/1e6)
	}
}
