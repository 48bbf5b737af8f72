// Command resty makes an existing go-resty client DingTalk-aware by giving it
// a dingtoken Transport: its requests carry a valid token, and a rejected
// token is replaced and the request sent again, unseen by resty.
//
// This is a module of its own, so resty never becomes a dependency of
// dingtoken. It runs against the dingtalktest simulator, in-process.
package main

import (
	"fmt"
	"os"

	"github.com/dingtoken/dingtoken"
	"github.com/dingtoken/dingtoken/dingtalktest"
	"github.com/go-resty/resty/v2"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "resty:", err)
		os.Exit(1)
	}
}

func run() error {
	sim := dingtalktest.NewServer()
	defer sim.Close()
	sim.AddApp("ding-app", "app-secret")

	client := resty.New().SetTransport(&dingtoken.Transport{
		Fetcher: &dingtoken.AppCredentials{ClientID: "ding-app", ClientSecret: "app-secret", HTTPClient: sim.Client()},
		Base:    sim.Transport(), // real code leaves Base nil
	})

	var user struct {
		ErrCode int    `json:"errcode"`
		ErrMsg  string `json:"errmsg"`
	}
	for i := range 2 {
		resp, err := client.R().SetBody(map[string]string{"userid": "manager4220"}).SetResult(&user).
			Post("https://oapi.dingtalk.com/topapi/v2/user/get")
		if err != nil {
			return err
		}
		fmt.Printf("request %d: %s, errcode %d (%s)\n", i+1, resp.Status(), user.ErrCode, user.ErrMsg)
		if user.ErrCode != 0 {
			return fmt.Errorf("DingTalk answered errcode %d", user.ErrCode)
		}
		sim.RevokeAll() // the second request meets a revoked token, and still succeeds
	}
	return nil
}
