package dingtoken

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// sdkStyleError is shaped like the official SDK runtime's error (tea's
// SDKError): pointers for every field.
type sdkStyleError struct {
	Code       *string
	StatusCode *int
	Message    *string
}

func (e *sdkStyleError) Error() string { return "SDKError: " + *e.Code }

func newSDKStyleError(status int, code string) error {
	return &sdkStyleError{Code: &code, StatusCode: &status}
}

// plainStyleError has plain fields, as other SDKs' errors do.
type plainStyleError struct {
	StatusCode int
	Code       string
}

func (e plainStyleError) Error() string { return e.Code }

func TestIsTokenRejected(t *testing.T) {
	var nilSDK *sdkStyleError
	code := "InvalidAuthentication"
	tests := []struct {
		name string
		err  error
		want bool
	}{
		{"nil", nil, false},
		{"legacy 40014", &APIError{StatusCode: 200, Code: "40014"}, true},
		{"legacy 42001", &APIError{StatusCode: 200, Code: "42001"}, true},
		{"legacy 40001", &APIError{StatusCode: 200, Code: "40001"}, true},
		{"legacy 88/40014", &APIError{StatusCode: 200, Code: "88", SubCode: "40014"}, true},
		{"legacy 88/other", &APIError{StatusCode: 200, Code: "88", SubCode: "60011"}, false},
		{"legacy busy", &APIError{StatusCode: 200, Code: "-1"}, false},
		{"legacy throttled", &APIError{StatusCode: 200, Code: "90018"}, false},
		{"new 400 InvalidAuthentication", &APIError{StatusCode: 400, Code: "InvalidAuthentication"}, true},
		{"new 401 InvalidAuthentication", &APIError{StatusCode: 401, Code: "InvalidAuthentication"}, true},
		{"new 403 InvalidAuthentication", &APIError{StatusCode: 403, Code: "InvalidAuthentication"}, false},
		{"new 401 Unauthorized", &APIError{StatusCode: 401, Code: "Unauthorized"}, true},
		{"new 403 Forbidden.AccessDenied", &APIError{StatusCode: 403, Code: "Forbidden.AccessDenied.AccessTokenPermissionDenied"}, false},
		{"token endpoint's wrong secret", &APIError{StatusCode: 400, Code: "invalidClientIdOrSecret", kind: ErrInvalidCredentials}, false},
		{"wrapped", fmt.Errorf("calling DingTalk: %w", &APIError{StatusCode: 200, Code: "40014"}), true},
		{"joined", errors.Join(errors.New("x"), &APIError{StatusCode: 400, Code: "InvalidAuthentication"}), true},
		{"SDK-shaped 400", newSDKStyleError(400, "InvalidAuthentication"), true},
		{"SDK-shaped 429", newSDKStyleError(429, "Throttling"), false},
		{"SDK-shaped, no status", &sdkStyleError{Code: &code}, false},
		{"SDK-shaped nil pointer", nilSDK, false},
		{"SDK-shaped, wrapped", fmt.Errorf("sdk: %w", newSDKStyleError(401, "InvalidAuthentication")), true},
		{"plain fields", plainStyleError{StatusCode: 400, Code: "InvalidAuthentication"}, true},
		{"plain fields, legacy code without status", plainStyleError{Code: "42001"}, true},
		{"text only", errors.New("InvalidAuthentication 400"), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := IsTokenRejected(tt.err); got != tt.want {
				t.Errorf("IsTokenRejected(%v) = %v, want %v", tt.err, got, tt.want)
			}
		})
	}
}

// tokenStringCall calls a new-API path of srv the way an SDK that takes a
// token string does, and returns DingTalk's error as an SDK-shaped error.
func tokenStringCall(ctx context.Context, srv interface{ Transport() http.RoundTripper }, token string) error {
	req, err := http.NewRequestWithContext(ctx, "GET", "https://api.dingtalk.com/v1.0/contact/users/me", nil)
	if err != nil {
		return err
	}
	req.Header.Set("x-acs-dingtalk-access-token", token)
	resp, err := srv.Transport().RoundTrip(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if e := parseAPIError(resp.StatusCode, raw); e != nil {
		return fmt.Errorf("the SDK says: %w", newSDKStyleError(e.StatusCode, e.Code))
	}
	return nil
}

func TestWithTokenRecoversARevokedToken(t *testing.T) {
	srv := newSim(t)
	m := &Manager{}
	ctx := context.Background()
	stale, err := m.Token(ctx, appCreds(srv))
	if err != nil {
		t.Fatal(err)
	}
	srv.RevokeAll()
	var tokens []string
	err = m.WithToken(ctx, appCreds(srv), func(ctx context.Context, token string) error {
		tokens = append(tokens, token)
		return tokenStringCall(ctx, srv, token)
	})
	if err != nil {
		t.Fatalf("err = %v, want success after one retry", err)
	}
	if len(tokens) != 2 || tokens[0] != stale.Value || tokens[1] != srv.CurrentToken(testClientID) {
		t.Errorf("called with %d tokens, want the stale one, then the fresh one", len(tokens))
	}
	if n := srv.Fetches(testClientID); n != 2 {
		t.Errorf("token fetches %d, want 2", n)
	}
	if st := m.Stats(); st.Invalidations != 1 || st.Retries != 1 {
		t.Errorf("stats %+v, want one invalidation and one retry", st)
	}
}

func TestWithTokenCallsAtMostTwice(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name      string
		err       error
		wantCalls int
	}{
		{"success", nil, 1},
		{"always rejected", &APIError{StatusCode: 200, Code: "40014"}, 2},
		{"always rejected, SDK-shaped", newSDKStyleError(400, "InvalidAuthentication"), 2},
		{"throttled", &APIError{StatusCode: 200, Code: "90018"}, 1},
		{"network", errors.New("connection reset"), 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, fetched := sequenceFetcher("twice", time.Hour)
			m := &Manager{}
			calls := 0
			err := m.WithToken(ctx, f, func(context.Context, string) error {
				calls++
				return tt.err
			})
			if err != tt.err {
				t.Errorf("err = %v, want the call's own %v", err, tt.err)
			}
			if calls != tt.wantCalls || int(fetched.Load()) != tt.wantCalls {
				t.Errorf("%d calls and %d fetches, want %d of each", calls, fetched.Load(), tt.wantCalls)
			}
		})
	}
}

func TestWithTokenReturnsTheManagersError(t *testing.T) {
	broken := FetcherFunc("broken", func(context.Context) (Token, error) { return Token{}, errors.New("endpoint down") })
	called := false
	err := (&Manager{}).WithToken(context.Background(), broken, func(context.Context, string) error {
		called = true
		return nil
	})
	if called || err == nil || !strings.Contains(err.Error(), "endpoint down") {
		t.Errorf("called %v, err %v; want the fetch error and no call", called, err)
	}
}

// errWithEmbedded has its Code and StatusCode behind an embedded pointer.
type errWithEmbedded struct{ *codes }

type codes struct {
	Code       string
	StatusCode int
}

func (errWithEmbedded) Error() string { return "embedded" }

// TestIsTokenRejectedBehindANilEmbeddedPointer: an error whose code fields
// sit behind a nil embedded pointer is not a rejection, and no panic.
func TestIsTokenRejectedBehindANilEmbeddedPointer(t *testing.T) {
	if IsTokenRejected(errWithEmbedded{}) {
		t.Error("nil embedded codes: a rejection")
	}
	if !IsTokenRejected(errWithEmbedded{&codes{Code: "InvalidAuthentication", StatusCode: 401}}) {
		t.Error("embedded InvalidAuthentication 401: not a rejection")
	}
}

// TestWithTokenErrorsNeverShowTheToken: an SDK that puts the token in a
// legacy URL fails with a *url.Error quoting it. WithToken returns call's
// error without the token, on the first call and on the retry after a
// rejection, and errors.As still finds the *url.Error and the net.Error.
func TestWithTokenErrorsNeverShowTheToken(t *testing.T) {
	get := func(ctx context.Context, token string) error {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://127.0.0.1:1/topapi/x?access_token="+token, nil)
		if err != nil {
			return err
		}
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			resp.Body.Close()
			return errors.New("a request to port 1 succeeded")
		}
		return err
	}
	tests := []struct {
		name      string
		rejected  int // calls that DingTalk rejects before the request
		wantCalls int
	}{
		{"first call", 0, 1},
		{"retry after a rejection", 1, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var n atomic.Int32
			f := FetcherFunc("withtoken-url", func(context.Context) (Token, error) {
				return Token{Value: fmt.Sprintf("withtoken-token-%d-0123456789", n.Add(1)), Expiry: time.Now().Add(time.Hour)}, nil
			})
			var tokens []string
			err := (&Manager{}).WithToken(context.Background(), f, func(ctx context.Context, token string) error {
				tokens = append(tokens, token)
				if len(tokens) <= tt.rejected {
					return &APIError{StatusCode: 200, Code: "40014"}
				}
				return get(ctx, token)
			})
			if len(tokens) != tt.wantCalls {
				t.Fatalf("%d calls, want %d", len(tokens), tt.wantCalls)
			}
			if err == nil {
				t.Fatal("err = nil, want the request's error")
			}
			assertErrorClean(t, err, tokens...)
			var ue *url.Error
			if !errors.As(err, &ue) || !strings.Contains(ue.URL, "access_token=REDACTED") {
				t.Errorf("errors.As(*url.Error) on %v: %v", err, ue)
			}
			var ne net.Error
			if !errors.As(err, &ne) {
				t.Errorf("errors.As(net.Error) failed on %v", err)
			}
		})
	}
}
