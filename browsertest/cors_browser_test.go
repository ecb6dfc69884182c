package browsertest

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
)

// frontEndPage is a front end as a browser app on another origin has it:
// with fetch it registers, logs in (credentials included, as a cookie-based
// client would) and calls /api/users/me on the Gatehouse named by ?api=,
// then writes "ok <username>" or "error <message>" into #out.
const frontEndPage = `<!doctype html>
<meta charset="utf-8"><title>front end</title>
<pre id="out"></pre>
<script>
const params = new URLSearchParams(location.search);
const api = params.get('api'), name = params.get('name');
async function call(method, path, body, token) {
  const headers = {'Accept': 'application/json'};
  if (body) headers['Content-Type'] = 'application/json';
  if (token) headers['Authorization'] = 'Bearer ' + token;
  const r = await fetch(api + path, {method, headers, body: body && JSON.stringify(body), credentials: 'include'});
  const j = await r.json();
  if (!r.ok) throw new Error(path + ': ' + r.status + ' ' + JSON.stringify(j));
  return j;
}
(async () => {
  try {
    await call('POST', '/api/auth/local/register', {username: name, email: name + '@example.com', password: 'Passw0rd!'});
    const login = await call('POST', '/api/auth/local', {identifier: name, password: 'Passw0rd!'});
    const me = await call('GET', '/api/users/me', null, login.jwt);
    return 'ok ' + me.username;
  } catch (e) {
    return 'error ' + e.message;
  }
})().then(r => { const out = document.getElementById('out'); out.textContent = r; out.dataset.done = 'true'; });
</script>`

// TestCrossOriginFrontEnd runs a page served from another origin (another
// port) that calls Gatehouse with fetch: it works when CORS_ORIGINS names
// that origin and fails, before any request but the preflight reaches the
// API, when it does not.
func TestCrossOriginFrontEnd(t *testing.T) {
	bin := chromiumPath(t)
	front := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Write([]byte(frontEndPage))
	}))
	t.Cleanup(front.Close)
	p, _ := newBrowserPage(t, bin)
	for _, tt := range []struct {
		name   string
		env    []string
		wantOK bool
	}{
		{"CORS_ORIGINS names the front end", []string{"CORS_ORIGINS=" + front.URL}, true},
		{"CORS_ORIGINS names another origin", []string{"CORS_ORIGINS=https://app.example.com"}, false},
		{"production without CORS_ORIGINS", []string{"GATEHOUSE_ENV=production"}, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			g := startGatehouse(t, tt.env...)
			p.t = t
			const name = "frontend"
			p.do("open the front end", chromedp.Navigate(front.URL+"/?"+url.Values{"api": {g.URL}, "name": {name}}.Encode()),
				chromedp.WaitVisible(chromedp.CSS(`#out[data-done]`)))
			got := p.text("#out")
			users, err := g.store.Users().ByEmail(context.Background(), name+"@example.com")
			if err != nil {
				t.Fatal(err)
			}
			if tt.wantOK {
				if got != "ok "+name || len(users) != 1 {
					t.Errorf("front end shows %q with %d users registered, want %q and 1", got, len(users), "ok "+name)
				}
				return
			}
			// The browser refused the preflight's answer: fetch rejects
			// with a network error, and the register never ran.
			if !strings.HasPrefix(got, "error Failed to fetch") || len(users) != 0 {
				t.Errorf("front end shows %q with %d users registered, want a fetch failure and none", got, len(users))
			}
		})
	}
}
