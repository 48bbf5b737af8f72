package bench

import (
	"fmt"
	"math"
	"runtime"
	"slices"
	"sync"
	"time"
)

// The interleaved method: contenders run in small batches, one after the
// other, round after round, so that whatever else the machine does (another
// process, a frequency change) falls on all of them alike. A round runs the
// contenders in one order and then in the reverse order, and takes each
// one's mean, which cancels a drift within the round; the first contender
// rotates from round to round. The garbage collector runs when it would:
// a cycle falls in a batch with a probability that grows with what the
// batch allocates, so each contender pays for its garbage on average. Each
// round yields one ratio; the figures are the median and interquartile
// range of those ratios.

// batch runs one batch of a contender and returns its cost in ns per
// operation.
type batch func() float64

// interleave runs every batch twice per round, for rounds rounds, after one
// round whose results are dropped (warm-up), and returns the costs by
// round and batch.
func interleave(rounds int, batches []batch) [][]float64 {
	for _, b := range batches {
		b()
	}
	out := make([][]float64, rounds)
	k := len(batches)
	for r := range out {
		out[r] = make([]float64, k)
		for i := range k {
			j := (i + r) % k
			out[r][j] = batches[j]() / 2
		}
		for i := k - 1; i >= 0; i-- {
			j := (i + r) % k
			out[r][j] += batches[j]() / 2
		}
	}
	return out
}

// column returns the values of batch i over all rounds.
func column(costs [][]float64, i int) []float64 {
	v := make([]float64, len(costs))
	for r := range costs {
		v[r] = costs[r][i]
	}
	return v
}

// perRound applies f to each round's costs.
func perRound(costs [][]float64, f func(round []float64) float64) []float64 {
	v := make([]float64, len(costs))
	for r := range costs {
		v[r] = f(costs[r])
	}
	return v
}

// spread is a median with its interquartile range.
type spread struct{ p25, median, p75 float64 }

func spreadOf(v []float64) spread {
	s := slices.Clone(v)
	s = slices.DeleteFunc(s, func(x float64) bool { return math.IsNaN(x) || math.IsInf(x, 0) })
	if len(s) == 0 {
		return spread{math.NaN(), math.NaN(), math.NaN()}
	}
	slices.Sort(s)
	return spread{quantile(s, 0.25), quantile(s, 0.5), quantile(s, 0.75)}
}

// quantile of sorted s, interpolated.
func quantile(s []float64, q float64) float64 {
	pos := q * float64(len(s)-1)
	lo := int(pos)
	if lo+1 >= len(s) {
		return s[lo]
	}
	return s[lo] + (pos-float64(lo))*(s[lo+1]-s[lo])
}

// format prints the median and the interquartile range with prec decimals.
func (s spread) format(prec int) string {
	return fmt.Sprintf("%.*f [%.*f–%.*f]", prec, s.median, prec, s.p25, prec, s.p75)
}

// serial returns a batch that calls op n times on this goroutine: what one
// call costs.
func serial(n int, op func(i int)) batch {
	return func() float64 {
		start := time.Now()
		for i := range n {
			op(i)
		}
		return float64(time.Since(start).Nanoseconds()) / float64(n)
	}
}

// parallel returns a batch that calls op n times in all, from goroutines
// goroutines at once, each with its own worker state made by newWorker and
// kept across batches. perCall reports what one call costs (elapsed time
// times goroutines over calls, meaningful while every goroutine has a core),
// otherwise the batch reports elapsed time per call (throughput's inverse).
func parallel(goroutines, n int, perCall bool, newWorker func(w int) func(i int)) batch {
	workers := make([]func(int), goroutines)
	for w := range workers {
		workers[w] = newWorker(w)
	}
	return func() float64 {
		var wg sync.WaitGroup
		start := make(chan struct{})
		each := n / goroutines
		for _, op := range workers {
			wg.Go(func() {
				<-start
				for i := range each {
					op(i)
				}
			})
		}
		t0 := time.Now()
		close(start)
		wg.Wait()
		elapsed := float64(time.Since(t0).Nanoseconds())
		if perCall {
			return elapsed * float64(goroutines) / float64(each*goroutines)
		}
		return elapsed / float64(each*goroutines)
	}
}

// allocsPerOp returns the allocations and bytes one call of op makes, on
// average over n calls on this goroutine.
func allocsPerOp(n int, op func(i int)) (allocs, bytes float64) {
	op(0)
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	for i := range n {
		op(i)
	}
	runtime.ReadMemStats(&after)
	return float64(after.Mallocs-before.Mallocs) / float64(n), float64(after.TotalAlloc-before.TotalAlloc) / float64(n)
}
