package sdktest

import (
	"context"
	"errors"
	"net/http"
	"testing"

	openapi "github.com/alibabacloud-go/darabonba-openapi/v2/client"
	"github.com/alibabacloud-go/tea/dara"
	"github.com/alibabacloud-go/tea/tea"
	"github.com/dingtoken/dingtoken"
)

// simClient is an HttpClient that sends the runtime's requests to the
// simulator and does nothing else: the SDK used with a token string, as
// before its HttpClient could be a dingtoken Transport.
type simClient struct{ rt http.RoundTripper }

func (c simClient) Call(req *http.Request, _ *http.Transport) (*http.Response, error) {
	return c.rt.RoundTrip(req)
}

// TestWithTokenAndTheSDKsOwnError: the token goes into the SDK's headers;
// when DingTalk revokes it, the runtime's SDKError is recognised, the token
// dropped, and the call made once more with a fresh one.
func TestWithTokenAndTheSDKsOwnError(t *testing.T) {
	srv := newSim(t)
	sdk := newSDK(t, simClient{srv.Transport()})
	m := &dingtoken.Manager{}
	ctx := context.Background()
	stale, err := m.Token(ctx, creds(srv))
	if err != nil {
		t.Fatal(err)
	}
	srv.RevokeAll()
	var errs []error
	err = m.WithToken(ctx, creds(srv), func(ctx context.Context, token string) error {
		_, err := getUserMe(ctx, sdk, tokenHeader(token))
		errs = append(errs, err)
		return err
	})
	if err != nil {
		t.Fatalf("err = %v, want success after one retry", err)
	}
	var sdkErr *tea.SDKError
	if len(errs) != 2 || !errors.As(errs[0], &sdkErr) {
		t.Fatalf("calls returned %v, want the SDK's error, then success", errs)
	}
	if n := srv.Fetches(appID); n != 2 {
		t.Errorf("token fetches %d, want 2", n)
	}
	if m.Stats().Invalidations != 1 || srv.CurrentToken(appID) == stale.Value {
		t.Error("the revoked token was not dropped")
	}

	srv.RejectTokens(true)
	calls := 0
	err = m.WithToken(ctx, creds(srv), func(ctx context.Context, token string) error {
		calls++
		_, err := getUserMe(ctx, sdk, tokenHeader(token))
		return err
	})
	if !errors.As(err, &sdkErr) || calls != 2 {
		t.Errorf("persistent rejection: %d calls, err %v; want 2 calls and the SDK's error", calls, err)
	}
}

// TestIsTokenRejectedKnowsTheRuntimesErrors: the runtime's error types,
// recognised by their fields without dingtoken importing them.
func TestIsTokenRejectedKnowsTheRuntimesErrors(t *testing.T) {
	invalid := map[string]any{"code": "InvalidAuthentication", "statusCode": 400, "message": "不合法的access_token"}
	tests := []struct {
		name string
		err  error
		want bool
	}{
		{"tea.SDKError 400", tea.NewSDKError(invalid), true},
		{"tea.SDKError 401", tea.NewSDKError(map[string]any{"code": "InvalidAuthentication", "statusCode": 401}), true},
		{"tea.SDKError 401 Unauthorized", tea.NewSDKError(map[string]any{"code": "Unauthorized", "statusCode": 401}), true},
		{"tea.SDKError throttled", tea.NewSDKError(map[string]any{"code": "Throttling", "statusCode": 429}), false},
		{"tea.SDKError no permission", tea.NewSDKError(map[string]any{"code": "Forbidden.AccessDenied.AccessTokenPermissionDenied", "statusCode": 403}), false},
		{"dara.SDKError 400", dara.NewSDKError(invalid), true},
		{"ClientError (DisableSDKError)", &openapi.ClientError{StatusCode: dara.Int(400), Code: dara.String("InvalidAuthentication")}, true},
		{"ThrottlingError", &openapi.ThrottlingError{StatusCode: dara.Int(429), Code: dara.String("Throttling")}, false},
		{"converted by the runtime", dara.TeaSDKError(&openapi.ClientError{StatusCode: dara.Int(400), Code: dara.String("InvalidAuthentication")}), true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := dingtoken.IsTokenRejected(tt.err); got != tt.want {
				t.Errorf("IsTokenRejected(%T) = %v, want %v", tt.err, got, tt.want)
			}
		})
	}
}
