package bench

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/bradfitz/gomemcache/memcache"
	"github.com/dingtoken/dingtoken"
	"github.com/dingtoken/dingtoken/dingtalktest"
	"github.com/dingtoken/dingtoken/internal/redistest"
	"github.com/dingtoken/dingtoken/redisstore"
)

// slowBackend is a Store's server behind a proxy that answers
// storeRoundTrip late.
type slowBackend struct {
	name string
	// process returns a Store on a new client, as in a process start, and
	// what closes the client.
	process func() (dingtoken.Store, func())
	// trip returns a function that times one round trip of a client: a
	// new one, whose first trip includes its connection, or the same one
	// again.
	trip func() (roundTrip func() time.Duration, closeIt func())
}

func slowMemcached(p *redistest.Proxy) slowBackend {
	return slowBackend{
		name: "memcached",
		process: func() (dingtoken.Store, func()) {
			c := memcache.New(p.Addr)
			return dingtoken.NewMemcacheStore(c), func() { c.Close() }
		},
		trip: func() (func() time.Duration, func()) {
			c := memcache.New(p.Addr)
			c.Timeout = time.Second
			return func() time.Duration {
				start := time.Now()
				c.Get("missing")
				return time.Since(start)
			}, func() { c.Close() }
		},
	}
}

func slowRedis(p *redistest.Proxy) slowBackend {
	return slowBackend{
		name: "Redis",
		process: func() (dingtoken.Store, func()) {
			c := newRedisClient([]string{p.Addr})
			return redisstore.New(c), func() { c.Close() }
		},
		trip: func() (func() time.Duration, func()) {
			c := newRedisClient([]string{p.Addr})
			return func() time.Duration {
				start := time.Now()
				c.Get(context.Background(), "missing")
				return time.Since(start)
			}, func() { c.Close() }
		},
	}
}

// slowStoreSection times one process's cold start, and a request that
// meets a revoked token, through b, against a fetch alone, a round trip
// alone and a request alone, measured in turn in the same runs.
func slowStoreSection(t *testing.T, r *report, sim *dingtalktest.Server, b slowBackend) {
	const delay = 50 * time.Millisecond
	sim.SetTokenDelay(delay)
	ctx := context.Background()
	url := "https://api.dingtalk.com/v1.0/contact/users/me"
	var fetchOnly, roundTrip, firstTrip, cold, plain, revoked, revokedAtOnce []time.Duration
	fetches := map[string]int{}

	warmTrip, closeProbe := b.trip()
	defer closeProbe()
	warmTrip() // connects

	// coldManager is a process start: a new client, a new Manager, an app
	// whose token is in DingTalk but not in the Store.
	coldManager := func(i int) (*dingtoken.Manager, func(), *dingtoken.AppCredentials, time.Duration) {
		app := fmt.Sprintf("slow-cold-%s-%d-%d", b.name, i, time.Now().UnixNano())
		sim.AddApp(app, stormSecret)
		f := &dingtoken.AppCredentials{ClientID: app, ClientSecret: stormSecret, HTTPClient: sim.Client()}
		store, closeStore := b.process()
		m := &dingtoken.Manager{Store: store}
		start := time.Now()
		if _, err := m.Token(ctx, f); err != nil {
			t.Fatal(err)
		}
		return m, closeStore, f, time.Since(start)
	}
	// revoke revokes f's token and times the request that meets it.
	revoke := func(m *dingtoken.Manager, f *dingtoken.AppCredentials) time.Duration {
		c := &http.Client{Transport: &dingtoken.Transport{Fetcher: f, Manager: m, Base: sim.Transport()}}
		tok, _ := m.Token(ctx, f)
		sim.Revoke(tok.Value)
		start := time.Now()
		if err := getURL(c, url, false); err != nil {
			t.Fatal(err)
		}
		return time.Since(start)
	}

	for i := range clusterRuns {
		app := fmt.Sprintf("slow-%s-%d-%d", b.name, i, time.Now().UnixNano())
		sim.AddApp(app, stormSecret)
		f := &dingtoken.AppCredentials{ClientID: app, ClientSecret: stormSecret, HTTPClient: sim.Client()}
		start := time.Now()
		if _, err := (&dingtoken.Manager{}).Token(ctx, f); err != nil {
			t.Fatal(err)
		}
		fetchOnly = append(fetchOnly, time.Since(start))

		roundTrip = append(roundTrip, warmTrip())
		newTrip, closeNew := b.trip()
		firstTrip = append(firstTrip, newTrip())
		closeNew()

		m, closeStore, f, took := coldManager(i)
		cold = append(cold, took)
		m.Flush(ctx) // the background work done: the steady state a revocation meets
		c := &http.Client{Transport: &dingtoken.Transport{Fetcher: f, Manager: m, Base: sim.Transport()}}
		start = time.Now()
		if err := getURL(c, url, false); err != nil {
			t.Fatal(err)
		}
		plain = append(plain, time.Since(start))
		revoked = append(revoked, revoke(m, f))
		m.Flush(ctx)
		closeStore()
		fetches[f.ClientID] = sim.Fetches(f.ClientID)

		// The same, revoked before the cold start's background work is done.
		m, closeStore, f, _ = coldManager(i)
		revokedAtOnce = append(revokedAtOnce, revoke(m, f))
		m.Flush(ctx)
		closeStore()
	}
	median := func(ds []time.Duration) time.Duration {
		s := slices.Clone(ds)
		slices.Sort(s)
		return s[len(s)/2]
	}
	rt, first, fetch, req := median(roundTrip), median(firstTrip), median(fetchOnly), median(plain)
	coldBound := fetch + first + rt
	revokedBound := 2*req + fetch + 2*rt
	exact := 0
	for _, n := range fetches {
		if n == 2 { // the first token, and one after the revocation
			exact++
		}
	}

	fmt.Printf("\n### One process and a %s that answers %v late\n\n", b.name, storeRoundTrip)
	fmt.Printf("%d runs, each with a new app; DingTalk's token endpoint takes %v. ms as median (worst). The bound is\n", clusterRuns, delay)
	fmt.Print("the fetch and two store round trips, the first of a new client for a cold start (plus, for a revoked token,\n")
	fmt.Print("the two requests), each measured in the same runs.\n\n")
	fmt.Println("| what | ms | bound, ms | median within bound |")
	fmt.Println("| --- | ---: | ---: | --- |")
	fmt.Printf("| a token fetch alone (no Store) | %s | | |\n", durations(fetchOnly))
	fmt.Printf("| a %s round trip through the slow proxy, warm client | %s | | |\n", b.name, durations(roundTrip))
	fmt.Printf("| the same on a new client (connection included) | %s | | |\n", durations(firstTrip))
	fmt.Printf("| a request with the token in memory | %s | | |\n", durations(plain))
	fmt.Printf("| cold start: a new Manager and client, first token | %s | %.1f | %s |\n", durations(cold), ms(coldBound), verdict(median(cold) <= coldBound))
	fmt.Printf("| a request that meets its token revoked (drop, refetch, retry) | %s | %.1f | %s |\n", durations(revoked), ms(revokedBound), verdict(median(revoked) <= revokedBound))
	fmt.Printf("| the same, right after the cold start (its background work under way) | %s | %.1f | %s |\n", durations(revokedAtOnce), ms(revokedBound), verdict(median(revokedAtOnce) <= revokedBound))
	// Round trips waited for: what is left after the fetch (and the new
	// client's connection, or the two requests), in round trips, per run.
	var coldTrips, revokedTrips []float64
	for i := range cold {
		coldTrips = append(coldTrips, float64(cold[i]-fetchOnly[i]-(firstTrip[i]-roundTrip[i]))/float64(roundTrip[i]))
		revokedTrips = append(revokedTrips, float64(revoked[i]-fetchOnly[i]-2*plain[i])/float64(roundTrip[i]))
	}
	ct, rvt := spreadOf(coldTrips), spreadOf(revokedTrips)
	fmt.Printf("\nRound trips waited for, per run (time − the fetch − the new client's connection, or the two requests) / a round trip,\n")
	fmt.Printf("median [IQR]: cold start %.2f [%.2f–%.2f], revoked token %.2f [%.2f–%.2f].\n", ct.median, ct.p25, ct.p75, rvt.median, rvt.p25, rvt.p75)
	fmt.Printf("Token fetches: 2 per run (the first token, one after the revocation)\n")
	fmt.Printf("in %d of %d runs.\n", exact, clusterRuns)
	r.goal(median(cold) <= coldBound, fmt.Sprintf("%s %v late: cold start ≤ fetch + 2 round trips", b.name, storeRoundTrip),
		fmt.Sprintf("%.1f ms vs %.1f ms (%.2f round trips)", ms(median(cold)), ms(coldBound), ct.median), "≤ bound")
	r.goal(median(revoked) <= revokedBound, fmt.Sprintf("%s %v late: a revoked token's request ≤ 2 requests + fetch + 2 round trips", b.name, storeRoundTrip),
		fmt.Sprintf("%.1f ms vs %.1f ms (%.2f round trips)", ms(median(revoked)), ms(revokedBound), rvt.median), "≤ bound")
	r.goal(exact == clusterRuns, fmt.Sprintf("%s %v late: 1 fetch per cold start and 1 per revocation", b.name, storeRoundTrip),
		fmt.Sprintf("%d of %d runs", exact, clusterRuns), "every run")
}
