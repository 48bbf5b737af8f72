package dingtoken_test

import (
	"encoding/json"
	"expvar"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/dingtoken/dingtoken"
	"github.com/dingtoken/dingtoken/dingtalktest"
)

// One line publishes a Manager's Stats with the standard library's expvar,
// served as JSON under /debug/vars.
func ExampleManager_Stats_expvar() {
	srv := dingtalktest.NewServer()
	defer srv.Close()
	srv.AddApp("ding-app", "app-secret")
	manager := &dingtoken.Manager{}

	expvar.Publish("dingtoken", expvar.Func(func() any { return manager.Stats() }))

	client := &http.Client{Transport: &dingtoken.Transport{
		Fetcher: &dingtoken.AppCredentials{ClientID: "ding-app", ClientSecret: "app-secret", HTTPClient: srv.Client()},
		Manager: manager,
		Base:    srv.Transport(),
	}}
	for range 3 {
		resp, err := client.Get("https://api.dingtalk.com/v1.0/contact/users/me")
		if err != nil {
			panic(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}

	// What GET /debug/vars answers (expvar registers it on http.DefaultServeMux).
	rec := httptest.NewRecorder()
	expvar.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/debug/vars", nil))
	var vars struct{ Dingtoken dingtoken.Stats }
	if err := json.Unmarshal(rec.Body.Bytes(), &vars); err != nil {
		panic(err)
	}
	fmt.Printf("fetches %d, L1 hits %d, keys %d\n", vars.Dingtoken.Fetches, vars.Dingtoken.L1Hits, vars.Dingtoken.Keys)
	// Output: fetches 1, L1 hits 2, keys 1
}

// TestCoreDoesNotImportExpvar: expvar's init registers /debug/vars on
// http.DefaultServeMux, which users of the core did not ask for; expvar is
// the user's one line, above. Neither it nor net/http/pprof is among the
// core's dependencies, direct or indirect.
func TestCoreDoesNotImportExpvar(t *testing.T) {
	goTool, err := exec.LookPath("go")
	if err != nil {
		goTool = filepath.Join(runtime.GOROOT(), "bin", "go")
	}
	out, err := exec.Command(goTool, "list", "-deps", "-f", "{{.ImportPath}}", ".").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	deps := strings.Fields(string(out))
	if len(deps) < 10 || !strings.Contains(string(out), "net/http\n") {
		t.Fatalf("go list -deps gave %d packages, without net/http: %q", len(deps), out)
	}
	for _, dep := range deps {
		if dep == "expvar" || dep == "net/http/pprof" {
			t.Errorf("the core imports %s, which registers handlers on http.DefaultServeMux", dep)
		}
	}
}
