package dingtoken_test

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/dingtoken/dingtoken"
	"github.com/dingtoken/dingtoken/dingtalktest"
)

// The dd.config signature of DingTalk's SDK sample values.
func ExampleSignJSAPI() {
	ticket := "zHoQdGJuH0ZDebwo7sLqLzHGUueLmkWCC4RycYgkuvDu3eoROgN5qhwnQLgfzwEXtuR9SDzh6BdhyVngzAjrxV"
	fmt.Println(dingtoken.SignJSAPI(ticket, "abcdefgh", 1437027269927, "http://10.62.53.138:3000/jsapi"))
	// Output: f83d09ae579893dd206f49752d49c64ed5b1d495a2d769e9f63ba4d1909f90ed
}

// An H5 page's signature, and what to do when the page reports that
// dd.config failed (52013, or 52011): drop the ticket it was signed with.
func ExampleJSAPITicket() {
	srv := dingtalktest.NewServer()
	defer srv.Close()
	srv.AddApp("ding-app", "app-secret")
	ctx := context.Background()

	m := &dingtoken.Manager{}
	app := &dingtoken.AppCredentials{ClientID: "ding-app", ClientSecret: "app-secret", HTTPClient: srv.Client()}
	tickets := &dingtoken.JSAPITicket{App: app, Manager: m, HTTPClient: srv.Client()}

	const page, nonce = "https://h5.example.com/index.html?corpId=ding1#/home", "d1ngt0ken"
	sign := func() (ticket string, code int) {
		t, err := m.Token(ctx, tickets)
		if err != nil {
			panic(err)
		}
		ts := time.Now().UnixMilli()
		sig := dingtoken.SignJSAPI(t.Value, nonce, ts, page) // sent to the page with nonce and ts
		return t.Value, srv.CheckJSAPISignature("ding-app", sig, nonce, ts, page)
	}

	_, code := sign()
	fmt.Println("dd.config:", code)
	srv.RevokeJSAPITickets() // DingTalk drops the ticket early
	stale, code := sign()
	fmt.Println("dd.config:", code)
	m.Invalidate(ctx, tickets, stale) // the page reported the error
	_, code = sign()
	fmt.Println("dd.config:", code)
	// Output:
	// dd.config: 0
	// dd.config: 52011
	// dd.config: 0
}

// DingTalk pushes a suite ticket to one replica; every replica's corp
// credentials fetch with it.
func ExampleSuiteTickets() {
	srv := dingtalktest.NewServer()
	defer srv.Close()
	srv.AddSuite("suite-key", "suite-secret", "")
	ctx := context.Background()
	store := dingtoken.NewMemoryStore() // memcached in production

	// The replica that receives the push (Stream event or HTTP callback).
	receiver := &dingtoken.SuiteTickets{SuiteKey: "suite-key", SuiteSecret: "suite-secret", Store: store}
	ticket, pushedAt := srv.PushSuiteTicket("suite-key")
	if err := receiver.Put(ctx, ticket, pushedAt); err != nil {
		panic(err)
	}

	// Any replica.
	tickets := &dingtoken.SuiteTickets{SuiteKey: "suite-key", SuiteSecret: "suite-secret", Store: store}
	corp := &dingtoken.CorpCredentials{SuiteKey: "suite-key", SuiteSecret: "suite-secret", AuthCorpID: "ding-customer",
		SuiteTicket: tickets.Ticket, HTTPClient: srv.Client()}
	client := &http.Client{Transport: &dingtoken.Transport{Fetcher: corp, Manager: &dingtoken.Manager{Store: store}, Base: srv.Transport()}}
	resp, err := client.Get("https://api.dingtalk.com/v1.0/contact/users/me")
	if err != nil {
		panic(err)
	}
	resp.Body.Close()
	fmt.Println(resp.Status)
	// Output: 200 OK
}
