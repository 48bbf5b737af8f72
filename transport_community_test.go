package dingtoken

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/dingtoken/dingtoken/internal/wiretest"
)

// communityClient is shaped like the community DingTalk SDKs: it fetches
// and caches its own token from /gettoken, puts ?access_token= on every
// request, and moves it to the header for new-API paths. It knows nothing
// of dingtoken; its http.Client's transport is a dingtoken Transport.
type communityClient struct {
	client            *http.Client
	appKey, appSecret string

	mu    sync.Mutex
	token string // cached for the life of the client, as such SDKs cache it until it expires
}

func (c *communityClient) accessToken(ctx context.Context) (string, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.token != "" {
		return c.token, nil
	}
	var out struct {
		ErrCode     int    `json:"errcode"`
		AccessToken string `json:"access_token"`
	}
	u := "https://oapi.dingtalk.com/gettoken?appkey=" + url.QueryEscape(c.appKey) + "&appsecret=" + url.QueryEscape(c.appSecret)
	if err := c.do(ctx, u, &out); err != nil {
		return "", err
	}
	if out.ErrCode != 0 || out.AccessToken == "" {
		return "", fmt.Errorf("gettoken: errcode %d", out.ErrCode)
	}
	c.token = out.AccessToken
	return c.token, nil
}

// get calls a DingTalk API path with the client's token and decodes the
// answer into out.
func (c *communityClient) get(ctx context.Context, rawURL string, out any) error {
	tok, err := c.accessToken(ctx)
	if err != nil {
		return err
	}
	u, err := url.Parse(rawURL)
	if err != nil {
		return err
	}
	q := u.Query()
	q.Set("access_token", tok)
	u.RawQuery = q.Encode()
	req, err := http.NewRequestWithContext(ctx, "GET", u.String(), nil)
	if err != nil {
		return err
	}
	if strings.HasPrefix(u.Path, "/v1.0/") {
		// For the new API, the token moves to the header.
		q.Del("access_token")
		req.URL.RawQuery = q.Encode()
		req.Header.Set("x-acs-dingtalk-access-token", tok)
	}
	resp, err := c.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	return json.NewDecoder(resp.Body).Decode(out)
}

func (c *communityClient) do(ctx context.Context, u string, out any) error {
	req, err := http.NewRequestWithContext(ctx, "GET", u, nil)
	if err != nil {
		return err
	}
	resp, err := c.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	return json.NewDecoder(resp.Body).Decode(out)
}

// answer holds both API generations' error fields.
type answer struct {
	ErrCode *int   `json:"errcode"`
	Code    string `json:"code"`
}

func (a answer) ok() bool { return (a.ErrCode == nil || *a.ErrCode == 0) && a.Code == "" }

// TestCommunityClientHoldingOurTokenRecovers: the community client fetched
// its token on its own, before the Manager had any; DingTalk re-issues an
// internal app's token within its validity, so the Manager's first token is
// the same one, and a revocation is recovered for the client's requests
// (query and header), which go on working with its stale copy.
func TestCommunityClientHoldingOurTokenRecovers(t *testing.T) {
	srv := newSim(t)
	w := &wiretest.Recorder{Next: srv.Transport()}
	m := &Manager{}
	c := &communityClient{
		client: &http.Client{Transport: &Transport{Fetcher: appCreds(srv), Manager: m, Base: w}},
		appKey: testClientID, appSecret: testSecret,
	}
	ctx := context.Background()
	urls := []string{"https://oapi.dingtalk.com/topapi/v2/user/get?userid=1", "https://api.dingtalk.com/v1.0/contact/users/me"}
	for _, u := range urls {
		var a answer
		if err := c.get(ctx, u, &a); err != nil || !a.ok() {
			t.Fatalf("%s: %v %+v", u, err, a)
		}
	}
	held := c.token
	if n := srv.Fetches(testClientID); n != 2 {
		t.Fatalf("token fetches %d, want 2 (the client's own, the Manager's first)", n)
	}
	srv.RevokeAll()
	for round := range 2 {
		for _, u := range urls {
			var a answer
			if err := c.get(ctx, u, &a); err != nil || !a.ok() {
				t.Errorf("round %d, %s: %v %+v, want success", round+1, u, err, a)
			}
		}
	}
	if c.token != held {
		t.Fatal("test setup: the client refreshed its token")
	}
	if n := srv.Fetches(testClientID); n != 3 {
		t.Errorf("token fetches %d, want 3: one refresh for the revocation", n)
	}
	if st := m.Stats(); st.Invalidations != 1 {
		t.Errorf("Invalidations %d, want 1", st.Invalidations)
	}
	for i, s := range w.Requests() {
		if n := len(s.Headers) + len(s.Params); n > 1 {
			t.Errorf("request %d carried %d tokens: %+v", i+1, n, s)
		}
	}
}

// TestCommunityClientWithForeignTokenPassesThrough: the same client for
// another app, behind a Transport of ours: its token is not ours, so its
// requests go out untouched, and a revocation is its own problem.
func TestCommunityClientWithForeignTokenPassesThrough(t *testing.T) {
	srv := newSim(t)
	srv.AddApp("ding-community-app", "community-secret-9a")
	w := &wiretest.Recorder{Next: srv.Transport()}
	m := &Manager{}
	c := &communityClient{
		client: &http.Client{Transport: &Transport{Fetcher: appCreds(srv), Manager: m, Base: w}},
		appKey: "ding-community-app", appSecret: "community-secret-9a",
	}
	ctx := context.Background()
	u := "https://oapi.dingtalk.com/topapi/v2/user/get?userid=1"
	var a answer
	if err := c.get(ctx, u, &a); err != nil || !a.ok() {
		t.Fatalf("%v %+v", err, a)
	}
	srv.RevokeAll()
	a = answer{}
	if err := c.get(ctx, u, &a); err != nil || a.ErrCode == nil || *a.ErrCode != 40014 {
		t.Errorf("after the revocation: %v %+v, want DingTalk's 40014", err, a)
	}
	if calls, _ := srv.APICalls(); calls != 2 {
		t.Errorf("API calls %d, want 2: no retry", calls)
	}
	if st := m.Stats(); st.Invalidations != 0 || st.Retries != 0 {
		t.Errorf("stats %+v, want no invalidation or retry", st)
	}
	for i, s := range w.Requests() {
		if i > 0 && (len(s.Params) != 1 || s.Params[0] != c.token || len(s.Headers) != 0) {
			t.Errorf("request %d sent %+v, want the client's own token alone", i+1, s)
		}
	}
}
