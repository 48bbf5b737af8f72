package bench

import (
	"bytes"
	"io"
	"net/http"
	"net/url"
)

// The floors: the least a RoundTripper that adds a DingTalk token can do,
// written by hand for one token and one placement, with nothing else
// (no host check, no cache, no caller's token, no retry). Measured in the
// same runs as ours, they show what our own work costs above the contract.
//
// The http.RoundTripper contract forbids modifying the caller's request, so
// each copies the part it changes; the query floor also looks at every
// small 200 answer for a legacy rejection, which means reading it and
// giving the bytes back.

// headerFloor puts the token in the new API's header: a shallow copy of
// the request and a copy of its header map with the token added.
type headerFloor struct {
	base   http.RoundTripper
	values []string // the header's value, built once
}

func newHeaderFloor(base http.RoundTripper, token string) headerFloor {
	return headerFloor{base: base, values: []string{token}}
}

func (f headerFloor) RoundTrip(req *http.Request) (*http.Response, error) {
	r := new(http.Request)
	*r = *req
	r.Header = make(http.Header, len(req.Header)+1)
	for k, v := range req.Header {
		r.Header[k] = v
	}
	r.Header["X-Acs-Dingtalk-Access-Token"] = f.values
	return f.base.RoundTrip(r)
}

// queryFloor puts the token in the legacy API's query, and peeks at every
// small JSON 200 answer: one allocation for the request and its URL, one
// for the new query, one for the body read and one for the body given back.
type queryFloor struct {
	base  http.RoundTripper
	param string // "access_token=<escaped token>", built once
}

func newQueryFloor(base http.RoundTripper, token string) queryFloor {
	return queryFloor{base: base, param: "access_token=" + url.QueryEscape(token)}
}

func (f queryFloor) RoundTrip(req *http.Request) (*http.Response, error) {
	c := new(struct {
		r http.Request
		u url.URL
	})
	c.r, c.u = *req, *req.URL
	c.r.URL = &c.u
	if c.u.RawQuery == "" {
		c.u.RawQuery = f.param
	} else {
		c.u.RawQuery += "&" + f.param
	}
	resp, err := f.base.RoundTrip(&c.r)
	if err != nil || resp.StatusCode != http.StatusOK || resp.ContentLength < 0 || resp.ContentLength > 64<<10 {
		return resp, err
	}
	buf := make([]byte, resp.ContentLength)
	n, err := io.ReadFull(resp.Body, buf)
	if err == io.EOF {
		err = nil
	}
	p := &peeked{buf: buf[:n], err: err, rest: resp.Body}
	p.rejected = bytes.Contains(p.buf, []byte(`"errcode":4`)) // a legacy rejection code starts with 4
	resp.Body = p
	return resp, nil
}

// peeked gives back the bytes the query floor read, then the rest.
type peeked struct {
	buf      []byte
	err      error
	rest     io.ReadCloser
	rejected bool
}

func (p *peeked) Read(b []byte) (int, error) {
	if len(p.buf) > 0 {
		n := copy(b, p.buf)
		p.buf = p.buf[n:]
		return n, nil
	}
	if p.err != nil {
		return 0, p.err
	}
	return p.rest.Read(b)
}

func (p *peeked) Close() error { return p.rest.Close() }
