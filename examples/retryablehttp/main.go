// Command retryablehttp shows dingtoken with hashicorp/go-retryablehttp both
// ways round: the dingtoken Transport as the HTTP client a retryablehttp
// client retries through, so every retry carries a valid token; and a
// retrying transport as the dingtoken Transport's Base.
//
// It runs against the dingtalktest simulator, in-process.
package main

import (
	"fmt"
	"io"
	"net/http"
	"os"

	"github.com/dingtoken/dingtoken"
	"github.com/dingtoken/dingtoken/dingtalktest"
	"github.com/hashicorp/go-retryablehttp"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "retryablehttp:", err)
		os.Exit(1)
	}
}

func run() error {
	sim := dingtalktest.NewServer()
	defer sim.Close()
	sim.AddApp("ding-app", "app-secret")
	creds := &dingtoken.AppCredentials{ClientID: "ding-app", ClientSecret: "app-secret", HTTPClient: sim.Client()}

	// 1. retryablehttp on the outside: it retries 5xx and network errors;
	//    dingtoken, underneath, puts a token on every attempt.
	outer := retryablehttp.NewClient()
	outer.Logger = nil
	outer.HTTPClient = &http.Client{Transport: &dingtoken.Transport{Fetcher: creds, Base: sim.Transport()}}
	if err := get(outer.StandardClient(), "https://api.dingtalk.com/v1.0/contact/users/me"); err != nil {
		return err
	}

	// 2. retryablehttp on the inside, as Base: dingtoken handles rejected
	//    tokens, the retrying transport handles flaky networks. Its logger
	//    is off: it would print each URL, a legacy token included. Its
	//    client follows no redirect, which would carry the token header to
	//    another host; the outer client follows them through dingtoken.
	inner := retryablehttp.NewClient()
	inner.Logger = nil
	inner.HTTPClient = sim.Client()
	inner.HTTPClient.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	client := &http.Client{Transport: &dingtoken.Transport{Fetcher: creds, Base: &retryablehttp.RoundTripper{Client: inner}}}
	sim.RevokeAll()
	return get(client, "https://oapi.dingtalk.com/topapi/v2/user/get")
}

func get(c *http.Client, url string) error {
	resp, err := c.Get(url)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	fmt.Printf("%s %s\n%s\n", resp.Status, url, body)
	return err
}
