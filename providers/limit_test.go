package providers_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/providers"
	"golang.org/x/oauth2"
)

// endless answers a JSON document that never ends (an issuer an admin
// pointed at a stream, or a hostile one) and counts what it wrote.
func endless(written *atomic.Int64) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		chunk := []byte(`{"x":"` + strings.Repeat("a", 64<<10))
		for r.Context().Err() == nil {
			n, err := w.Write(chunk)
			written.Add(int64(n))
			if err != nil {
				return
			}
			chunk = []byte(strings.Repeat("a", 64<<10))
		}
	}
}

// TestOIDCAnswersAreBounded: go-oidc reads discovery documents and JWKS
// without a bound; an endless answer from an admin-set issuer must fail
// after about a MiB, not be read into memory until the ten-second timeout.
func TestOIDCAnswersAreBounded(t *testing.T) {
	const bound = 64 << 20 // far above the 1 MiB read, far below 10 s of loopback
	t.Run("discovery", func(t *testing.T) {
		var written atomic.Int64
		srv := httptest.NewServer(endless(&written))
		defer srv.Close()
		p := providers.NewOIDC("corp", srv.URL)
		start := time.Now()
		_, err := p.OAuth2Config(context.Background(), providers.Settings{Enabled: true, Key: "k", Secret: "s"}, "http://localhost/cb")
		if err == nil {
			t.Fatal("OAuth2Config with an endless discovery document: no error")
		}
		if d := time.Since(start); d >= providers.DefaultTimeout {
			t.Errorf("OAuth2Config took %v: the endless answer was read until the timeout", d)
		}
		if n := written.Load(); n > bound {
			t.Errorf("the issuer wrote %d bytes before Gatehouse gave up, want at most %d", n, bound)
		}
	})
	t.Run("JWKS", func(t *testing.T) {
		var written atomic.Int64
		mux := http.NewServeMux()
		srv := httptest.NewServer(mux)
		defer srv.Close()
		mux.HandleFunc("/.well-known/openid-configuration", func(w http.ResponseWriter, r *http.Request) {
			_ = json.NewEncoder(w).Encode(map[string]any{"issuer": srv.URL, "authorization_endpoint": srv.URL + "/authorize",
				"token_endpoint": srv.URL + "/token", "jwks_uri": srv.URL + "/jwks", "id_token_signing_alg_values_supported": []string{"RS256"}})
		})
		mux.HandleFunc("/jwks", endless(&written))
		enc := func(v any) string { b, _ := json.Marshal(v); return base64.RawURLEncoding.EncodeToString(b) }
		raw := enc(map[string]any{"alg": "RS256", "kid": "k1", "typ": "JWT"}) + "." +
			enc(map[string]any{"iss": srv.URL, "aud": "k", "sub": "s", "nonce": "n", "exp": time.Now().Add(time.Hour).Unix(), "iat": time.Now().Unix()}) +
			"." + base64.RawURLEncoding.EncodeToString([]byte("not a signature"))
		tok := (&oauth2.Token{AccessToken: "at"}).WithExtra(map[string]any{"id_token": raw})
		p := providers.NewOIDC("corp", srv.URL)
		start := time.Now()
		if err := p.VerifyIDToken(context.Background(), providers.Settings{Enabled: true, Key: "k", Secret: "s"}, tok, "n"); err == nil {
			t.Fatal("VerifyIDToken with an endless JWKS: no error")
		}
		if d := time.Since(start); d >= providers.DefaultTimeout {
			t.Errorf("VerifyIDToken took %v: the endless JWKS was read until the timeout", d)
		}
		if n := written.Load(); n > bound {
			t.Errorf("the issuer wrote %d bytes of JWKS before Gatehouse gave up, want at most %d", n, bound)
		}
	})
}
