// Command communitysdk makes a DingTalk client of the community kind (it
// fetches and caches its own token, and puts it on every request itself)
// recover from a revoked token, without changing the client:
//
//  1. A process-wide transport: http.DefaultTransport becomes a dingtoken
//     Transport, so every http.Client without a transport of its own (the
//     SDK's included) goes through it. The client's token is the one
//     DingTalk re-issues to the app, so the Transport recognises it as its
//     own, replaces it when DingTalk rejects it, and sends the request again.
//  2. The client's token cache backed by the Manager, so the client and the
//     Transport share one token and one refresh.
//
// It runs against the dingtalktest simulator, in-process.
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync"

	"github.com/dingtoken/dingtoken"
	"github.com/dingtoken/dingtoken/dingtalktest"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "communitysdk:", err)
		os.Exit(1)
	}
}

func run() error {
	sim := dingtalktest.NewServer()
	defer sim.Close()
	sim.AddApp("ding-app", "app-secret")
	creds := &dingtoken.AppCredentials{ClientID: "ding-app", ClientSecret: "app-secret", HTTPClient: sim.Client()}
	manager := &dingtoken.Manager{}

	// 1. Process-wide. Base must be the transport being replaced (here the
	// simulator's), or requests would come back to the Transport itself.
	saved := http.DefaultTransport
	http.DefaultTransport = &dingtoken.Transport{Fetcher: creds, Manager: manager, Base: sim.Transport()}
	defer func() { http.DefaultTransport = saved }()

	sdk := &communityClient{appKey: "ding-app", appSecret: "app-secret"} // its own cache, its own http.Client
	if err := twoCalls(sim, sdk, "process-wide transport"); err != nil {
		return err
	}

	// 2. The same kind of client, its token cache backed by the Manager.
	sdk = &communityClient{tokenSource: func(ctx context.Context) (string, error) {
		t, err := manager.Token(ctx, creds)
		return t.Value, err
	}}
	if err := twoCalls(sim, sdk, "cache backed by the Manager"); err != nil {
		return err
	}
	fmt.Printf("token fetches: %d (the client's own, the Manager's first, one per revocation)\n", sim.Fetches("ding-app"))
	return nil
}

// twoCalls calls both API generations, has DingTalk revoke every token, and
// calls them again.
func twoCalls(sim *dingtalktest.Server, sdk *communityClient, how string) error {
	ctx := context.Background()
	for round := range 2 {
		for _, u := range []string{"https://oapi.dingtalk.com/topapi/v2/user/get?userid=manager4220", "https://api.dingtalk.com/v1.0/contact/users/me"} {
			if err := sdk.get(ctx, u); err != nil {
				return fmt.Errorf("%s, round %d: %w", how, round+1, err)
			}
		}
		sim.RevokeAll()
	}
	fmt.Printf("%s: every call succeeded, before and after a revocation\n", how)
	return nil
}

// communityClient is shaped like the community DingTalk SDKs: a token cache
// of its own, ?access_token= on every request, moved to the header for the
// new API, and an http.Client without a transport of its own.
type communityClient struct {
	appKey, appSecret string
	tokenSource       func(ctx context.Context) (string, error) // if set, replaces the cache

	mu    sync.Mutex
	token string
}

func (c *communityClient) accessToken(ctx context.Context) (string, error) {
	if c.tokenSource != nil {
		return c.tokenSource(ctx)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.token == "" {
		var out struct {
			ErrCode     int    `json:"errcode"`
			AccessToken string `json:"access_token"`
		}
		u := "https://oapi.dingtalk.com/gettoken?appkey=" + url.QueryEscape(c.appKey) + "&appsecret=" + url.QueryEscape(c.appSecret)
		if err := do(ctx, u, "", &out); err != nil {
			return "", err
		}
		if out.ErrCode != 0 {
			return "", fmt.Errorf("gettoken: errcode %d", out.ErrCode)
		}
		c.token = out.AccessToken
	}
	return c.token, nil
}

func (c *communityClient) get(ctx context.Context, rawURL string) error {
	tok, err := c.accessToken(ctx)
	if err != nil {
		return err
	}
	var header string
	if strings.Contains(rawURL, "/v1.0/") {
		header = tok
	} else {
		rawURL += "&access_token=" + url.QueryEscape(tok)
	}
	var out struct {
		ErrCode int    `json:"errcode"`
		Code    string `json:"code"`
	}
	if err := do(ctx, rawURL, header, &out); err != nil {
		return err
	}
	if out.ErrCode != 0 || out.Code != "" {
		return fmt.Errorf("DingTalk answered errcode %d, code %q", out.ErrCode, out.Code)
	}
	return nil
}

// do sends a GET with the client's http.Client, which, like most SDKs',
// has no transport of its own.
func do(ctx context.Context, u, token string, out any) error {
	req, err := http.NewRequestWithContext(ctx, "GET", u, nil)
	if err != nil {
		return err
	}
	if token != "" {
		req.Header.Set("x-acs-dingtalk-access-token", token)
	}
	resp, err := (&http.Client{}).Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	return json.NewDecoder(resp.Body).Decode(out)
}
