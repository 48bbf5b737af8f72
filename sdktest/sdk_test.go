package sdktest

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/alibabacloud-go/tea/tea"
	"github.com/dingtoken/dingtoken"
	"github.com/dingtoken/dingtoken/dingtalktest"
	"github.com/dingtoken/dingtoken/internal/wiretest"
)

// setup returns an SDK client whose HttpClient is a dingtoken Transport over
// srv, the wire it sends on, and its Manager.
func setup(t *testing.T, srv *dingtalktest.Server) (*wiretest.Recorder, *dingtoken.Manager, func(ctx context.Context, headers map[string]*string) (map[string]any, error)) {
	t.Helper()
	w := &wiretest.Recorder{Next: srv.Transport()}
	m := &dingtoken.Manager{}
	sdk := newSDK(t, &dingtoken.Transport{Fetcher: creds(srv), Manager: m, Base: w})
	return w, m, func(ctx context.Context, headers map[string]*string) (map[string]any, error) {
		return getUserMe(ctx, sdk, headers)
	}
}

// TestSDKCallGetsOurTokenOverHTTPS: the SDK's defaults (protocol "HTTP", no
// token in the headers) work: the call goes out over https with our token,
// in one header.
func TestSDKCallGetsOurTokenOverHTTPS(t *testing.T) {
	srv := newSim(t)
	w, _, call := setup(t, srv)
	out, err := call(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(out["statusCode"]) != "200" {
		t.Errorf("answer %v, want 200", out)
	}
	sent := w.Requests()
	if len(sent) != 1 {
		t.Fatalf("%d requests sent, want 1", len(sent))
	}
	if tok, one := sent[0].Only(true); !one || tok != srv.CurrentToken(appID) {
		t.Errorf("sent %+v, want the app's token in one header", sent[0])
	}
	if sent[0].Scheme != "https" {
		t.Errorf("sent over %s, want https", sent[0].Scheme)
	}
	if n := srv.Fetches(appID); n != 1 {
		t.Errorf("token fetches %d, want 1", n)
	}
}

func TestSDKRevokedTokenIsRecovered(t *testing.T) {
	srv := newSim(t)
	_, m, call := setup(t, srv)
	ctx := context.Background()
	if _, err := call(ctx, nil); err != nil {
		t.Fatal(err)
	}
	srv.RevokeAll()
	if _, err := call(ctx, nil); err != nil {
		t.Fatalf("after the revocation: %v", err)
	}
	if n := srv.Fetches(appID); n != 2 {
		t.Errorf("token fetches %d, want 2 (first token, one refresh)", n)
	}
	if calls, rejected := srv.APICalls(); calls != 3 || rejected != 1 {
		t.Errorf("API calls %d (%d rejected), want 3 (1)", calls, rejected)
	}
	if st := m.Stats(); st.Invalidations != 1 || st.Retries != 1 {
		t.Errorf("stats %+v", st)
	}
}

// TestSDKConcurrentCallsAfterRevocation: 50 SDK calls at once meet a
// revoked token; all succeed, with one token fetch between them.
func TestSDKConcurrentCallsAfterRevocation(t *testing.T) {
	srv := newSim(t)
	_, _, call := setup(t, srv)
	ctx := context.Background()
	if _, err := call(ctx, nil); err != nil {
		t.Fatal(err)
	}
	srv.RevokeAll()
	for i, err := range run(50, func(int) error { _, err := call(ctx, nil); return err }) {
		if err != nil {
			t.Fatalf("call %d: %v", i, err)
		}
	}
	if n := srv.Fetches(appID); n != 2 {
		t.Errorf("token fetches %d, want 2 (first token, one after the revocation)", n)
	}
}

// TestSDKPersistentRejectionIsTheSDKsError: when DingTalk rejects the fresh
// token too, the SDK reports DingTalk's answer as its own error, after
// exactly two attempts.
func TestSDKPersistentRejectionIsTheSDKsError(t *testing.T) {
	srv := newSim(t)
	_, _, call := setup(t, srv)
	srv.RejectTokens(true)
	_, err := call(context.Background(), nil)
	var sdkErr *tea.SDKError
	if !errors.As(err, &sdkErr) {
		t.Fatalf("err = %T %v, want the SDK's *tea.SDKError", err, err)
	}
	if tea.StringValue(sdkErr.Code) != "InvalidAuthentication" || tea.IntValue(sdkErr.StatusCode) != 400 {
		t.Errorf("SDKError code %q status %d, want InvalidAuthentication 400", tea.StringValue(sdkErr.Code), tea.IntValue(sdkErr.StatusCode))
	}
	if calls, rejected := srv.APICalls(); calls != 2 || rejected != 2 {
		t.Errorf("API calls %d (%d rejected), want exactly 2", calls, rejected)
	}
	if !dingtoken.IsTokenRejected(err) {
		t.Error("IsTokenRejected does not recognise the SDK's error")
	}
}

// TestSDKForeignTokenIsSentUntouched: a token given in the SDK's headers
// that the Manager did not issue (a user's, another app's) goes out alone
// and unchanged, and a rejection of it is the caller's, not recovered.
func TestSDKForeignTokenIsSentUntouched(t *testing.T) {
	srv := newSim(t)
	w, m, call := setup(t, srv)
	ctx := context.Background()
	srv.AddApp("ding-other-app", "other-secret-4d1f")
	other, err := (&dingtoken.Manager{}).Token(ctx, &dingtoken.AppCredentials{
		ClientID: "ding-other-app", ClientSecret: "other-secret-4d1f", HTTPClient: srv.Client()})
	if err != nil {
		t.Fatal(err)
	}

	if _, err := call(ctx, tokenHeader(other.Value)); err != nil {
		t.Fatalf("with another app's valid token: %v", err)
	}
	srv.Revoke(other.Value)
	_, err = call(ctx, tokenHeader(other.Value))
	var sdkErr *tea.SDKError
	if !errors.As(err, &sdkErr) || tea.StringValue(sdkErr.Code) != "InvalidAuthentication" {
		t.Errorf("with a revoked foreign token: err = %v, want DingTalk's rejection", err)
	}
	for i, s := range w.Requests() {
		if tok, one := s.Only(true); !one || tok != other.Value {
			t.Errorf("request %d sent %+v, want the caller's token alone", i+1, s)
		}
	}
	if calls, _ := srv.APICalls(); calls != 2 {
		t.Errorf("API calls %d, want 2: each call sent once", calls)
	}
	if st := m.Stats(); st.Invalidations != 0 || st.Retries != 0 {
		t.Errorf("stats %+v, want no invalidation or retry", st)
	}
}

// TestSDKHeadersTokenOfOursIsReplaced: a caller that fills the SDK's
// headers with a token it got from the Manager, and keeps it, is recovered
// when DingTalk revokes it, and one header goes out each time.
func TestSDKHeadersTokenOfOursIsReplaced(t *testing.T) {
	srv := newSim(t)
	w, m, call := setup(t, srv)
	ctx := context.Background()
	held, err := m.Token(ctx, creds(srv))
	if err != nil {
		t.Fatal(err)
	}
	srv.RevokeAll()
	for i := range 2 {
		if _, err := call(ctx, tokenHeader(held.Value)); err != nil {
			t.Fatalf("call %d: %v", i+1, err)
		}
	}
	if _, err := call(ctx, tokenHeader(dingtoken.TokenPlaceholder)); err != nil {
		t.Fatalf("with the placeholder: %v", err)
	}
	fresh := srv.CurrentToken(appID)
	want := []string{held.Value, fresh, fresh, fresh}
	sent := w.Requests()
	if len(sent) != len(want) {
		t.Fatalf("%d requests sent, want %d", len(sent), len(want))
	}
	for i, s := range sent {
		if tok, one := s.Only(true); !one || tok != want[i] {
			t.Errorf("request %d sent %+v, want one header with token %d", i+1, s, i)
		}
	}
	if n := srv.Fetches(appID); n != 2 {
		t.Errorf("token fetches %d, want 2", n)
	}
}
