package providers

import (
	"fmt"
	"io"
	"net/http"
)

// errTooLarge is an answer from a provider larger than maxBody.
var errTooLarge = fmt.Errorf("providers: answer larger than %d bytes", maxBody)

// limitedTransport bounds every answer body read through it to maxBody:
// reading beyond fails with errTooLarge. x/oauth2 bounds token answers and
// GetJSON its own reads, but go-oidc reads discovery documents and JWKS
// with an unbounded io.ReadAll, and an issuer is a URL an admin sets: an
// endless answer would otherwise be read into memory until the timeout.
type limitedTransport struct{ base http.RoundTripper }

func (t limitedTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	base := t.base
	if base == nil {
		base = http.DefaultTransport
	}
	resp, err := base.RoundTrip(req)
	if err != nil || resp.Body == nil {
		return resp, err
	}
	resp.Body = &limitedBody{rc: resp.Body, left: maxBody}
	return resp, nil
}

// limitedBody is an answer body that fails once more than left bytes come.
type limitedBody struct {
	rc   io.ReadCloser
	left int64
}

func (b *limitedBody) Read(p []byte) (int, error) {
	if b.left < 0 {
		return 0, errTooLarge
	}
	if int64(len(p)) > b.left+1 {
		p = p[:b.left+1]
	}
	n, err := b.rc.Read(p)
	b.left -= int64(n)
	if b.left < 0 {
		return n - int(-b.left), errTooLarge
	}
	return n, err
}

func (b *limitedBody) Close() error { return b.rc.Close() }

// limitBodies returns a copy of c whose answers are bounded (c itself when
// they already are).
func limitBodies(c *http.Client) *http.Client {
	if _, ok := c.Transport.(limitedTransport); ok {
		return c
	}
	cp := *c
	cp.Transport = limitedTransport{base: c.Transport}
	return &cp
}
