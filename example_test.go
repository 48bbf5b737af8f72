package dingtoken_test

import (
	"context"
	"fmt"
	"io"
	"net/http"

	"github.com/dingtoken/dingtoken"
	"github.com/dingtoken/dingtoken/dingtalktest"
)

// Wrap a client's transport, and every DingTalk request carries a token.
func ExampleTransport() {
	srv := dingtalktest.NewServer() // DingTalk, simulated
	defer srv.Close()
	srv.AddApp("ding-app", "app-secret")

	client := &http.Client{Transport: &dingtoken.Transport{
		Fetcher: &dingtoken.AppCredentials{ClientID: "ding-app", ClientSecret: "app-secret", HTTPClient: srv.Client()},
		Manager: &dingtoken.Manager{},
		Base:    srv.Transport(), // real code leaves Base nil
	}}
	resp, err := client.Get("https://api.dingtalk.com/v1.0/contact/users/me")
	if err != nil {
		panic(err)
	}
	defer resp.Body.Close()
	fmt.Println(resp.Status)
	// Output: 200 OK
}

// When DingTalk rejects a token, the Transport drops it, fetches a new one
// once, and sends the request again.
func ExampleTransport_recovery() {
	srv := dingtalktest.NewServer()
	defer srv.Close()
	srv.AddApp("ding-app", "app-secret")
	manager := &dingtoken.Manager{}
	client := &http.Client{Transport: &dingtoken.Transport{
		Fetcher: &dingtoken.AppCredentials{ClientID: "ding-app", ClientSecret: "app-secret", HTTPClient: srv.Client()},
		Manager: manager,
		Base:    srv.Transport(),
	}}
	get := func() string {
		resp, err := client.Get("https://oapi.dingtalk.com/topapi/v2/user/get")
		if err != nil {
			panic(err)
		}
		defer resp.Body.Close()
		io.Copy(io.Discard, resp.Body)
		return resp.Status
	}

	fmt.Println(get())
	srv.RevokeAll() // DingTalk invalidates the token early
	fmt.Println(get())
	st := manager.Stats()
	fmt.Printf("fetches %d, retries %d\n", st.Fetches, st.Retries)
	// Output:
	// 200 OK
	// 200 OK
	// fetches 2, retries 1
}

// A Token prints without its value, so it is safe to log.
func ExampleManager_Token() {
	srv := dingtalktest.NewServer()
	defer srv.Close()
	srv.AddApp("ding-app", "app-secret")
	creds := &dingtoken.AppCredentials{ClientID: "ding-app", ClientSecret: "app-secret", HTTPClient: srv.Client()}

	m := &dingtoken.Manager{}
	tok, err := m.Token(context.Background(), creds)
	if err != nil {
		panic(err)
	}
	fmt.Println(tok.Value == srv.CurrentToken("ding-app"))
	fmt.Printf("%.34s\n", tok) // the expiry, not shown, follows
	// Output:
	// true
	// dingtoken.Token{Value: REDACTED, E
}
