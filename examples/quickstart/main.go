// Command quickstart sends a burst of concurrent requests to both DingTalk
// API generations through a dingtoken Transport, has DingTalk revoke the
// token, sends another burst, and reports that every request succeeded with
// one extra token fetch.
//
// By default it runs against the dingtalktest simulator, in-process. With
// DINGTALK_CLIENT_ID and DINGTALK_CLIENT_SECRET set it talks to real DingTalk
// instead (without the revocation), and with MEMCACHED_ADDR or REDIS_ADDR
// set it shares tokens through memcached or Redis.
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/dingtoken/dingtoken"
	"github.com/dingtoken/dingtoken/dingtalktest"
)

const burst = 200

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "quickstart:", err)
		os.Exit(1)
	}
}

func run() error {
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	manager := &dingtoken.Manager{Logger: logger}
	if addr := os.Getenv("MEMCACHED_ADDR"); addr != "" {
		store, err := newMemcacheStore(addr)
		if err != nil {
			return err
		}
		manager.Store = store
		fmt.Println("sharing tokens through memcached at", addr)
	}
	if addr := os.Getenv("REDIS_ADDR"); addr != "" {
		if manager.Store != nil {
			return fmt.Errorf("set MEMCACHED_ADDR or REDIS_ADDR, not both")
		}
		store, err := newRedisStore(addr)
		if err != nil {
			return err
		}
		manager.Store = store
		fmt.Println("sharing tokens through Redis at", addr)
	}

	id, secret := os.Getenv("DINGTALK_CLIENT_ID"), os.Getenv("DINGTALK_CLIENT_SECRET")
	real := id != "" && secret != ""
	var sim *dingtalktest.Server
	creds := &dingtoken.AppCredentials{ClientID: id, ClientSecret: secret, Logger: logger}
	transport := &dingtoken.Transport{Fetcher: creds, Manager: manager}
	if real {
		fmt.Println("talking to real DingTalk as app", id)
	} else {
		sim = dingtalktest.NewServer()
		defer sim.Close()
		// A fresh app per run: a token a previous run left in memcached or
		// Redis belongs to a simulator that is gone.
		creds.ClientID = fmt.Sprintf("ding-quickstart-%d", time.Now().UnixNano())
		creds.ClientSecret = "quickstart-secret"
		sim.AddApp(creds.ClientID, creds.ClientSecret)
		creds.HTTPClient = sim.Client() // the token endpoint, simulated
		transport.Base = sim.Transport()
		fmt.Println("talking to the built-in DingTalk simulator (set DINGTALK_CLIENT_ID and DINGTALK_CLIENT_SECRET for real DingTalk)")
	}
	// The one line a service needs: its http.Client's transport.
	client := &http.Client{Transport: transport, Timeout: 30 * time.Second}

	start := time.Now()
	ok1, failed1 := sendBurst(client)
	fmt.Printf("burst 1: %d requests, %d ok, %d failed\n", burst, ok1, failed1)
	total, failed := burst, failed1
	if !real {
		sim.RevokeAll()
		fmt.Println("DingTalk revoked every token")
		ok2, failed2 := sendBurst(client)
		fmt.Printf("burst 2: %d requests, %d ok, %d failed\n", burst, ok2, failed2)
		total, failed = total+burst, failed+failed2
	}

	st := manager.Stats()
	fmt.Println()
	fmt.Println("report")
	fmt.Printf("  requests              %d in %v\n", total, time.Since(start).Round(time.Millisecond))
	fmt.Printf("  failed                %d\n", failed)
	fmt.Printf("  token fetches         %d\n", st.Fetches)
	if !real {
		_, rejected := sim.APICalls()
		fmt.Printf("  rejected by DingTalk  %d\n", rejected)
	}
	fmt.Printf("  tokens dropped        %d\n", st.Invalidations)
	fmt.Printf("  requests retried      %d\n", st.Retries)
	fmt.Printf("  L1 hits / L2 hits     %d / %d\n", st.L1Hits, st.L2Hits)
	if failed > 0 {
		return fmt.Errorf("%d of %d requests failed", failed, total)
	}
	if !real {
		fmt.Printf("\nevery request succeeded: the revoked token was dropped and replaced, %d token fetches in all\n", st.Fetches)
	}
	return nil
}

// sendBurst sends burst concurrent requests, alternating between the new API
// and the legacy API, and counts those DingTalk answered with success.
func sendBurst(client *http.Client) (ok, failed int) {
	var okCount, failCount atomic.Int32
	var wg sync.WaitGroup
	for i := range burst {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := call(client, i%2 == 0); err != nil {
				failCount.Add(1)
				if failCount.Load() == 1 {
					fmt.Fprintln(os.Stderr, "first failure:", err)
				}
				return
			}
			okCount.Add(1)
		}()
	}
	wg.Wait()
	return int(okCount.Load()), int(failCount.Load())
}

// call sends one request and checks DingTalk's answer.
func call(client *http.Client, newAPI bool) error {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var req *http.Request
	if newAPI {
		req, _ = http.NewRequestWithContext(ctx, "GET", "https://api.dingtalk.com/v1.0/contact/orgAccounts/getUserCount", nil)
	} else {
		req, _ = http.NewRequestWithContext(ctx, "POST", "https://oapi.dingtalk.com/topapi/v2/department/listsub",
			strings.NewReader(`{"dept_id":1}`))
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	// A permission error from real DingTalk still means the token was
	// accepted; only a rejected token, or a server failure, is a failure here.
	var answer struct {
		ErrCode int    `json:"errcode"`
		Code    string `json:"code"`
	}
	json.Unmarshal(body, &answer)
	switch {
	case resp.StatusCode >= 500, answer.Code == "InvalidAuthentication",
		answer.ErrCode == 40014, answer.ErrCode == 42001, answer.ErrCode == 40001:
		return fmt.Errorf("HTTP %d: %s", resp.StatusCode, body)
	}
	return nil
}
