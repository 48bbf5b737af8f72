// Command officialsdk gives the official DingTalk SDK's runtime
// (darabonba-openapi v2.1 and tea v1.3, on which the generated clients of
// github.com/alibabacloud-go/dingtalk are built) a dingtoken Transport as its
// HttpClient: calls carry a valid token without the caller passing one,
// go out over https although the SDK's default protocol is http, and survive
// a revoked token.
//
// It is a module of its own, so the SDK's runtime never becomes a dependency
// of dingtoken. It runs against the dingtalktest simulator, in-process.
package main

import (
	"fmt"
	"os"

	openapi "github.com/alibabacloud-go/darabonba-openapi/v2/client"
	"github.com/alibabacloud-go/tea/dara"
	"github.com/dingtoken/dingtoken"
	"github.com/dingtoken/dingtoken/dingtalktest"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "officialsdk:", err)
		os.Exit(1)
	}
}

func run() error {
	sim := dingtalktest.NewServer()
	defer sim.Close()
	sim.AddApp("ding-app", "app-secret")
	creds := &dingtoken.AppCredentials{ClientID: "ding-app", ClientSecret: "app-secret", HTTPClient: sim.Client()}

	// A generated client (contact_1_0.NewClient and the like) takes the same
	// Config; HttpClient is the one line dingtoken needs.
	client, err := openapi.NewClient(&openapi.Config{
		Endpoint:           dara.String("api.dingtalk.com"),
		SignatureAlgorithm: dara.String("v2"),
		HttpClient: &dingtoken.Transport{
			Fetcher: creds,
			Base:    sim.Transport(), // real code leaves Base nil, or sets its proxy and timeouts there
		},
	})
	if err != nil {
		return err
	}
	// What a generated operation such as contact_1_0's GetUser does, with no
	// token in its Headers struct.
	params := &openapi.Params{
		Action: dara.String("GetUser"), Version: dara.String("contact_1.0"), Protocol: dara.String("HTTP"),
		Pathname: dara.String("/v1.0/contact/users/me"), Method: dara.String("GET"), AuthType: dara.String("Anonymous"),
		Style: dara.String("ROA"), ReqBodyType: dara.String("json"), BodyType: dara.String("json"),
	}
	for i := range 2 {
		out, err := client.CallApi(params, &openapi.OpenApiRequest{}, &dara.RuntimeOptions{})
		if err != nil {
			return fmt.Errorf("call %d: %w", i+1, err)
		}
		fmt.Printf("call %d: HTTP %v\n", i+1, out["statusCode"])
		sim.RevokeAll() // the second call meets a revoked token, and still succeeds
	}
	calls, rejected := sim.APICalls()
	fmt.Printf("%d API requests (%d rejected), %d token fetches\n", calls, rejected, sim.Fetches("ding-app"))
	return nil
}
