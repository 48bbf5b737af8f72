package sdktest

import (
	"context"
	"sync"
	"testing"

	openapi "github.com/alibabacloud-go/darabonba-openapi/v2/client"
	"github.com/alibabacloud-go/tea/dara"
	"github.com/dingtoken/dingtoken"
	"github.com/dingtoken/dingtoken/dingtalktest"
)

const (
	appID     = "ding-sdk-app"
	appSecret = "sdk-app-secret-0c7e"
)

// newSim starts a simulator that knows the test app.
func newSim(t testing.TB) *dingtalktest.Server {
	t.Helper()
	srv := dingtalktest.NewServer()
	t.Cleanup(srv.Close)
	srv.AddApp(appID, appSecret)
	return srv
}

// creds fetches the test app's tokens from srv.
func creds(srv *dingtalktest.Server) *dingtoken.AppCredentials {
	return &dingtoken.AppCredentials{ClientID: appID, ClientSecret: appSecret, HTTPClient: srv.Client()}
}

// newSDK returns a client of the official SDK's runtime for api.dingtalk.com,
// set up as the DingTalk SDK's generated clients set it up, with hc as its
// HttpClient.
func newSDK(t testing.TB, hc dara.HttpClient) *openapi.Client {
	t.Helper()
	c, err := openapi.NewClient(&openapi.Config{
		Endpoint:           dara.String("api.dingtalk.com"),
		SignatureAlgorithm: dara.String("v2"),
		HttpClient:         hc,
	})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// getUserMe calls GET /v1.0/contact/users/me through the runtime as a
// generated DingTalk operation does: protocol "HTTP", a ROA-style JSON
// call, with the token, if any, in headers (as the SDK's *Headers structs
// put it). AuthType is Anonymous because no Alibaba Cloud credential is
// involved; the DingTalk SDK's gateway skips signing the same way.
func getUserMe(ctx context.Context, c *openapi.Client, headers map[string]*string) (map[string]any, error) {
	return getUserMeWith(ctx, c, headers, &dara.RuntimeOptions{})
}

// getUserMeWith is getUserMe with the runtime options given.
func getUserMeWith(ctx context.Context, c *openapi.Client, headers map[string]*string, runtime *dara.RuntimeOptions) (map[string]any, error) {
	params := &openapi.Params{
		Action:      dara.String("GetUser"),
		Version:     dara.String("contact_1.0"),
		Protocol:    dara.String("HTTP"),
		Pathname:    dara.String("/v1.0/contact/users/me"),
		Method:      dara.String("GET"),
		AuthType:    dara.String("Anonymous"),
		Style:       dara.String("ROA"),
		ReqBodyType: dara.String("json"),
		BodyType:    dara.String("json"),
	}
	return c.CallApiWithCtx(ctx, params, &openapi.OpenApiRequest{Headers: headers}, runtime)
}

// tokenHeader is the header the SDK's *Headers structs send a token in.
func tokenHeader(token string) map[string]*string {
	return map[string]*string{"x-acs-dingtalk-access-token": dara.String(token)}
}

// run calls fn n times concurrently and returns the errors.
func run(n int, fn func(i int) error) []error {
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = fn(i)
		}()
	}
	wg.Wait()
	return errs
}
