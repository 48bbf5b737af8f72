// Command isv runs an ISV's credentials end to end against the dingtalktest
// simulator: DingTalk pushes a suite ticket to one of two replicas, whose
// suite_ticket handler puts it into a shared SuiteTickets; the other replica
// fetches a corp token and a suite token with it and calls DingTalk; an H5
// page of the corp gets a dd.config signature from a jsapi ticket; DingTalk
// drops the ticket, the page reports 52011, the ticket is dropped here too
// and the next signature is good; a new suite ticket is pushed and the corp
// token refreshed with it.
//
// With MEMCACHED_ADDR set, the replicas share tickets and tokens through
// memcached instead of memory.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"time"

	"github.com/bradfitz/gomemcache/memcache"
	"github.com/dingtoken/dingtoken"
	"github.com/dingtoken/dingtoken/dingtalktest"
)

const (
	suiteKey    = "suite-isv-example"
	suiteSecret = "suite-secret-example"
	corpID      = "ding-customer-corp"
	page        = "https://h5.example.com/app/index.html?corpId=ding-customer-corp#/home"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "isv:", err)
		os.Exit(1)
	}
}

// replica is one process of the ISV's service.
type replica struct {
	tickets *dingtoken.SuiteTickets
	manager *dingtoken.Manager
	corp    *dingtoken.CorpCredentials
	suite   *dingtoken.SuiteCredentials
	jsapi   *dingtoken.JSAPITicket
	client  *http.Client // calls DingTalk as the corp
}

func newReplica(sim *dingtalktest.Server, store dingtoken.Store) *replica {
	r := &replica{
		tickets: &dingtoken.SuiteTickets{SuiteKey: suiteKey, SuiteSecret: suiteSecret, Store: store},
		manager: &dingtoken.Manager{Store: store},
	}
	r.corp = &dingtoken.CorpCredentials{SuiteKey: suiteKey, SuiteSecret: suiteSecret, AuthCorpID: corpID,
		SuiteTicket: r.tickets.Ticket, HTTPClient: sim.Client()}
	r.suite = &dingtoken.SuiteCredentials{SuiteKey: suiteKey, SuiteSecret: suiteSecret,
		SuiteTicket: r.tickets.Ticket, HTTPClient: sim.Client()}
	r.jsapi = &dingtoken.JSAPITicket{App: r.corp, Manager: r.manager, HTTPClient: sim.Client()}
	r.client = &http.Client{Transport: &dingtoken.Transport{Fetcher: r.corp, Manager: r.manager, Base: sim.Transport()}}
	return r
}

// suiteTicketHandler receives DingTalk's suite_ticket event, as the Stream
// client delivers it (docs/01-应用开发/04-LFcRvVD08N-事件订阅/0006-event-suite-ticket.md), and puts the ticket.
func (r *replica) suiteTicketHandler(w http.ResponseWriter, req *http.Request) {
	var event struct {
		EventType     string `json:"eventType"`
		EventBornTime int64  `json:"eventBornTime"` // Unix ms
		Data          struct {
			SuiteTicket string `json:"suiteTicket"`
		} `json:"data"`
	}
	if err := json.NewDecoder(req.Body).Decode(&event); err != nil || event.EventType != "suite_ticket" {
		http.Error(w, "not a suite_ticket event", http.StatusBadRequest)
		return
	}
	if err := r.tickets.Put(req.Context(), event.Data.SuiteTicket, time.UnixMilli(event.EventBornTime)); err != nil {
		// Kept in this replica, and written to the Store later; DingTalk
		// pushes again if we do not acknowledge.
		http.Error(w, err.Error(), http.StatusServiceUnavailable)
		return
	}
	w.Write([]byte(`{"status":"SUCCESS"}`))
}

func run() error {
	ctx := context.Background()
	sim := dingtalktest.NewServer()
	defer sim.Close()
	sim.AddSuite(suiteKey, suiteSecret, "")

	var store dingtoken.Store = dingtoken.NewMemoryStore()
	if addr := os.Getenv("MEMCACHED_ADDR"); addr != "" {
		store = dingtoken.NewMemcacheStore(memcache.New(addr))
		fmt.Println("sharing tickets and tokens through memcached at", addr)
	}
	receiver, caller := newReplica(sim, store), newReplica(sim, store)
	push := httptest.NewServer(http.HandlerFunc(receiver.suiteTicketHandler))
	defer push.Close()

	// 1. DingTalk pushes a suite ticket; it reaches the receiver only.
	if err := pushTicket(sim, push.URL); err != nil {
		return err
	}
	fmt.Println("suite ticket pushed to one replica")

	// 2. The other replica calls DingTalk as the corp, and as the suite.
	if err := callAPI(caller.client, "https://api.dingtalk.com/v1.0/contact/users/me"); err != nil {
		return err
	}
	fmt.Println("corp token fetched with the shared ticket; API call ok")
	if _, err := caller.manager.Token(ctx, caller.suite); err != nil {
		return err
	}
	fmt.Println("suite token fetched with the shared ticket")

	// 3. An H5 page of the corp asks for a dd.config signature.
	owner := dingtalktest.CorpOwner(suiteKey, corpID)
	ticket, code, err := caller.signPage(ctx, sim, owner)
	if err != nil {
		return err
	}
	fmt.Println("dd.config with the signature:", describe(code))
	if code != 0 {
		return fmt.Errorf("dd.config failed with %d", code)
	}

	// 4. DingTalk drops the ticket; the page's dd.config fails and the page
	// reports it; the ticket is dropped here too and the page signs again.
	sim.RevokeJSAPITickets()
	if _, code, err = caller.signPage(ctx, sim, owner); err != nil {
		return err
	}
	fmt.Println("after DingTalk dropped the ticket:", describe(code))
	caller.manager.Invalidate(ctx, caller.jsapi, ticket)
	if _, code, err = caller.signPage(ctx, sim, owner); err != nil {
		return err
	}
	fmt.Println("after dropping it here too:", describe(code))
	if code != 0 {
		return fmt.Errorf("dd.config failed with %d after the ticket was dropped", code)
	}

	// 5. A new suite ticket: only it fetches tokens from now on.
	if err := pushTicket(sim, push.URL); err != nil {
		return err
	}
	sim.RevokeAll() // DingTalk drops the corp token too, so the next call needs a new one
	if err := callAPI(caller.client, "https://oapi.dingtalk.com/topapi/v2/user/get"); err != nil {
		return err
	}
	fmt.Println("after a new suite ticket and a revoked corp token: API call ok")
	fmt.Printf("corp/suite token requests %d, jsapi ticket requests %d\n", sim.Fetches(suiteKey), sim.JSAPITicketFetches(owner))
	return nil
}

// pushTicket has the simulator make a new suite ticket and delivers the
// event to the push handler at url, as DingTalk would.
func pushTicket(sim *dingtalktest.Server, url string) error {
	ticket, at := sim.PushSuiteTicket(suiteKey)
	event, _ := json.Marshal(map[string]any{
		"eventType": "suite_ticket", "eventBornTime": at.UnixMilli(), "eventCorpId": corpID,
		"data": map[string]string{"suiteTicket": ticket},
	})
	resp, err := http.Post(url, "application/json", bytes.NewReader(event))
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		body, _ := io.ReadAll(resp.Body)
		return fmt.Errorf("push handler: %s %s", resp.Status, body)
	}
	return nil
}

// signPage signs the page as the service's signature endpoint would, and
// has the simulator check it as dd.config does.
func (r *replica) signPage(ctx context.Context, sim *dingtalktest.Server, owner string) (ticket string, code int, err error) {
	t, err := r.manager.Token(ctx, r.jsapi)
	if err != nil {
		return "", 0, err
	}
	nonce, ts := "isv-example", time.Now().UnixMilli()
	sig := dingtoken.SignJSAPI(t.Value, nonce, ts, page)
	return t.Value, sim.CheckJSAPISignature(owner, sig, nonce, ts, page), nil
}

func callAPI(client *http.Client, url string) error {
	resp, err := client.Get(url)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	var answer struct {
		ErrCode int `json:"errcode"`
	}
	json.Unmarshal(body, &answer)
	if resp.StatusCode != http.StatusOK || answer.ErrCode != 0 {
		return fmt.Errorf("%s: HTTP %d: %s", url, resp.StatusCode, body)
	}
	return nil
}

func describe(code int) string {
	switch code {
	case 0:
		return "ok"
	case dingtalktest.JSAPITicketUnreadable:
		return "52011 (jsapi ticket 读取失败)"
	case dingtalktest.JSAPISignatureInvalid:
		return "52013 (签名校验失败)"
	}
	return fmt.Sprint(code)
}
