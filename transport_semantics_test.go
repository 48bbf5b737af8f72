package dingtoken

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/go-retryablehttp"
)

// closeCountingBody counts the Close calls of the body it wraps.
type closeCountingBody struct {
	io.ReadCloser
	closes *atomic.Int32
}

func (b closeCountingBody) Close() error {
	b.closes.Add(1)
	return b.ReadCloser.Close()
}

// TestBaseResponseWithAnErrorIsClosed: a Base may return a response and an
// error at once (go-retryablehttp does with an ErrorHandler such as
// PassthroughErrorHandler). The caller gets only the error, as http.Client
// gives it, so the Transport closes the response it drops: nobody else can,
// and its connection would stay taken for good.
func TestBaseResponseWithAnErrorIsClosed(t *testing.T) {
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusServiceUnavailable)
		io.WriteString(w, `{"code":"ServiceUnavailable"}`)
	}))
	defer api.Close()
	rc := quickRetries(api.Client())
	rc.RetryMax = 0
	rc.CheckRetry = func(_ context.Context, resp *http.Response, err error) (bool, error) {
		if err == nil && resp.StatusCode == http.StatusServiceUnavailable {
			return false, errors.New("unavailable")
		}
		return false, err
	}
	rc.ErrorHandler = retryablehttp.PassthroughErrorHandler
	defer rc.HTTPClient.CloseIdleConnections()
	var closes, responses atomic.Int32
	base := roundTripFunc(func(r *http.Request) (*http.Response, error) {
		resp, err := (&retryablehttp.RoundTripper{Client: rc}).RoundTrip(r)
		if resp != nil {
			responses.Add(1)
			resp.Body = closeCountingBody{resp.Body, &closes}
		}
		return resp, err
	})
	host := strings.TrimPrefix(api.URL, "http://")
	for _, path := range []string{"/v1.0/contact/users/me", "/topapi/v2/user/get", "/v1.0/oauth2/accessToken"} {
		for _, hosts := range [][]string{{"127.0.0.1"}, {"elsewhere.example"}} {
			t.Run(path+" for "+hosts[0], func(t *testing.T) {
				closes.Store(0)
				responses.Store(0)
				tr := &Transport{Fetcher: staticFetcher("both", "tok-both-5c1e"), Manager: &Manager{}, Base: base, Hosts: hosts}
				resp, err := tr.RoundTrip(newRequest(t, "GET", "http://"+host+path, nil))
				if resp != nil || err == nil {
					t.Fatalf("got %v, %v; want only the error", resp, err)
				}
				if got, want := responses.Load(), int32(1); got != want {
					t.Fatalf("Base returned %d responses, want %d", got, want)
				}
				if got, want := closes.Load(), int32(1); got != want {
					t.Errorf("the dropped response was closed %d times, want %d", got, want)
				}
			})
		}
	}
}

// countingPipe is the reading end of a pipe that counts its Close calls.
type countingPipe struct {
	*io.PipeReader
	closes atomic.Int32
}

func (p *countingPipe) Close() error {
	p.closes.Add(1)
	return p.PipeReader.Close()
}

// TestCancelWhileBufferingTheBody: a body without GetBody is read into a
// buffer before it is sent, so that it can be sent again. A streamed body
// may stall, and net/http gives up on a request whose context ends while it
// sends the body; so does the Transport while it reads one: it closes the
// body and returns the context's error, not only when the body ends.
func TestCancelWhileBufferingTheBody(t *testing.T) {
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.Copy(io.Discard, r.Body) }))
	defer api.Close()
	tr := &Transport{Fetcher: staticFetcher("stall", "tok-stall-0b7e"), Manager: &Manager{}, Base: api.Client().Transport,
		Hosts: []string{"127.0.0.1"}}
	pr, pw := io.Pipe()
	body := &countingPipe{PipeReader: pr}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	req := newRequest(t, "POST", api.URL+"/topapi/message/send", nil).WithContext(ctx)
	req.Body, req.ContentLength = body, -1
	done := make(chan error, 1)
	go func() {
		resp, err := tr.RoundTrip(req)
		if resp != nil {
			resp.Body.Close()
		}
		done <- err
	}()
	if _, err := pw.Write([]byte(`{"part":`)); err != nil { // returns once the Transport reads
		t.Fatal(err)
	}
	cancel() // and the body stalls
	var err error
	select {
	case err = <-done:
	case <-time.After(20 * time.Second):
		pw.Close()
		<-done
		t.Fatal("RoundTrip kept reading a stalled body after its context ended")
	}
	if !errors.Is(err, context.Canceled) || !strings.HasPrefix(err.Error(), "dingtoken: ") {
		t.Errorf("err = %v, want context.Canceled", err)
	}
	if got, want := body.closes.Load(), int32(1); got != want {
		t.Errorf("the body was closed %d times, want %d", got, want)
	}
	if _, err := pw.Write([]byte("more")); !errors.Is(err, io.ErrClosedPipe) {
		t.Errorf("writing more to the body: %v, want io.ErrClosedPipe", err)
	}
}
