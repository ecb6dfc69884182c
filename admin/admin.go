// Package admin is Gatehouse's admin page: a single-page app (plain HTML, CSS
// and JavaScript, no build step) embedded in the binary and served at /admin.
//
// The page is public static content with no secrets in it. It signs in
// through POST /api/auth/local, keeps the token in sessionStorage and does
// everything else through the admin API, so the policy decides what a
// signed-in user may see and change. Every response carries a strict
// Content-Security-Policy: the page runs only its own script and style files.
package admin

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"io/fs"
	"net/http"
	"path"
	"strings"
	"time"
)

// Prefix is the path the page is served under: the page at Prefix, its files
// at Prefix/<name>.
const Prefix = "/admin"

// ContentSecurityPolicy is sent with every response of the admin page.
const ContentSecurityPolicy = "default-src 'self'; script-src 'self'; style-src 'self'; connect-src 'self'; " +
	"frame-ancestors 'none'; base-uri 'none'; form-action 'self'"

//go:embed static
var static embed.FS

// contentTypes are the file types the page is made of; a file of another type
// is not served.
var contentTypes = map[string]string{
	".html": "text/html; charset=utf-8",
	".js":   "text/javascript; charset=utf-8",
	".css":  "text/css; charset=utf-8",
	".svg":  "image/svg+xml",
}

// notFound is the body of a 404, Gatehouse's error envelope.
const notFound = `{"data":null,"error":{"status":404,"name":"NotFoundError","message":"Not Found","details":{}}}`

// file is one embedded file, ready to serve.
type file struct {
	body        []byte
	contentType string
	etag        string
}

// Handler serves the admin page: GET or HEAD of Prefix (or Prefix/) is
// index.html, Prefix/<name> one of the embedded files. Only the top-level
// files of the embedded directory exist for it; any other path, "..", an
// encoded slash or a directory answers 404.
func Handler() http.Handler {
	files, err := load()
	if err != nil {
		// The files are compiled in: this happens only with a broken build.
		panic(err)
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", ContentSecurityPolicy)
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Cross-Origin-Opener-Policy", "same-origin")
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			h.Set("Allow", "GET, HEAD")
			writeError(w, http.StatusMethodNotAllowed,
				`{"data":null,"error":{"status":405,"name":"MethodNotAllowedError","message":"Method Not Allowed","details":{}}}`)
			return
		}
		f, ok := files[fileName(r.URL.Path)]
		if !ok {
			writeError(w, http.StatusNotFound, notFound)
			return
		}
		h.Set("Content-Type", f.contentType)
		if f.contentType == contentTypes[".html"] {
			h.Set("Cache-Control", "no-store")
		} else {
			// Revalidated on every load, so a new binary's files are used at once.
			h.Set("Cache-Control", "no-cache")
			h.Set("ETag", f.etag)
		}
		http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(f.body))
	})
}

// fileName maps a request path to the name of an embedded file, or "" when
// the path names none.
func fileName(urlPath string) string {
	rest, ok := strings.CutPrefix(urlPath, Prefix)
	if !ok {
		return ""
	}
	if rest == "" || rest == "/" {
		return "index.html"
	}
	name, ok := strings.CutPrefix(rest, "/")
	if !ok || !fs.ValidPath(name) || strings.ContainsAny(name, `/\`) || strings.HasPrefix(name, ".") {
		return ""
	}
	return name
}

// load reads the embedded files once, with their types and ETags.
func load() (map[string]file, error) {
	entries, err := fs.ReadDir(static, "static")
	if err != nil {
		return nil, err
	}
	files := map[string]file{}
	for _, e := range entries {
		contentType, ok := contentTypes[path.Ext(e.Name())]
		if e.IsDir() || !ok {
			continue
		}
		body, err := fs.ReadFile(static, "static/"+e.Name())
		if err != nil {
			return nil, err
		}
		sum := sha256.Sum256(body)
		files[e.Name()] = file{body: body, contentType: contentType, etag: `"` + hex.EncodeToString(sum[:12]) + `"`}
	}
	return files, nil
}

// writeError writes a JSON error envelope.
func writeError(w http.ResponseWriter, status int, body string) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write([]byte(body))
}
