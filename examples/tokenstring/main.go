// Command tokenstring uses dingtoken with an SDK that takes the token as a
// string on every call: here the official DingTalk SDK's runtime with the
// token in the operation's Headers (x-acs-dingtalk-access-token), as on
// runtimes whose HttpClient cannot be replaced. Manager.WithToken runs the
// call with the current token and, when the SDK's error says DingTalk
// rejected it, drops that token and runs the call once more with a fresh one.
//
// It is a module of its own, so the SDK's runtime never becomes a dependency
// of dingtoken. It runs against the dingtalktest simulator, in-process.
package main

import (
	"context"
	"fmt"
	"net/http"
	"os"

	openapi "github.com/alibabacloud-go/darabonba-openapi/v2/client"
	"github.com/alibabacloud-go/tea/dara"
	"github.com/dingtoken/dingtoken"
	"github.com/dingtoken/dingtoken/dingtalktest"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "tokenstring:", err)
		os.Exit(1)
	}
}

// network stands in for the SDK's own HTTP client, which would reach real
// DingTalk; it sends the SDK's requests to the simulator and nothing more.
type network struct{ rt http.RoundTripper }

func (n network) Call(req *http.Request, _ *http.Transport) (*http.Response, error) {
	return n.rt.RoundTrip(req)
}

func run() error {
	sim := dingtalktest.NewServer()
	defer sim.Close()
	sim.AddApp("ding-app", "app-secret")
	creds := &dingtoken.AppCredentials{ClientID: "ding-app", ClientSecret: "app-secret", HTTPClient: sim.Client()}
	manager := dingtoken.DefaultManager

	client, err := openapi.NewClient(&openapi.Config{
		Endpoint:           dara.String("api.dingtalk.com"),
		SignatureAlgorithm: dara.String("v2"),
		HttpClient:         network{sim.Transport()}, // real code leaves HttpClient unset
	})
	if err != nil {
		return err
	}
	params := &openapi.Params{
		Action: dara.String("GetUser"), Version: dara.String("contact_1.0"), Protocol: dara.String("HTTPS"),
		Pathname: dara.String("/v1.0/contact/users/me"), Method: dara.String("GET"), AuthType: dara.String("Anonymous"),
		Style: dara.String("ROA"), ReqBodyType: dara.String("json"), BodyType: dara.String("json"),
	}
	ctx := context.Background()
	for i := range 2 {
		attempts := 0
		err := manager.WithToken(ctx, creds, func(ctx context.Context, token string) error {
			attempts++
			// With a generated client: client.GetUserWithOptions(unionId,
			// &contact.GetUserHeaders{XAcsDingtalkAccessToken: &token}, runtime)
			headers := map[string]*string{"x-acs-dingtalk-access-token": &token}
			_, err := client.CallApiWithCtx(ctx, params, &openapi.OpenApiRequest{Headers: headers}, &dara.RuntimeOptions{})
			return err
		})
		if err != nil {
			return fmt.Errorf("call %d: %w", i+1, err)
		}
		fmt.Printf("call %d: ok after %d attempt(s)\n", i+1, attempts)
		sim.RevokeAll() // the second call meets a revoked token, and still succeeds
	}
	fmt.Printf("token fetches: %d, tokens dropped: %d\n", sim.Fetches("ding-app"), manager.Stats().Invalidations)
	return nil
}
