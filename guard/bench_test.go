package guard_test

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/gatehouse/gatehouse/guard/ginguard"
	"github.com/gin-gonic/gin"
)

// benchRequests serves GET path through h, as caller, b.N times: the
// decision, the verified token and the user are cached after the first
// request.
func benchRequests(b *testing.B, e *env, h http.Handler, caller, path string) {
	req := httptest.NewRequest("GET", path, nil)
	if tok := e.tokens[caller]; tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	w := &discardWriter{header: http.Header{}}
	h.ServeHTTP(w, req) // warm the caches
	if w.status != http.StatusOK {
		b.Fatalf("GET %s as %q: status %d, want 200", path, caller, w.status)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		w.status = 0
		h.ServeHTTP(w, req)
	}
	if w.status != http.StatusOK {
		b.Fatalf("status %d, want 200", w.status)
	}
}

// discardWriter is a ResponseWriter that keeps the status only, so the
// benchmarks measure the router and the guard, not a recorder's buffers.
type discardWriter struct {
	header http.Header
	status int
}

func (w *discardWriter) Header() http.Header { return w.header }
func (w *discardWriter) Write(p []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return len(p), nil
}
func (w *discardWriter) WriteHeader(s int) { w.status = s }

// BenchmarkMux: a bare http.ServeMux handler, then the same mux behind
// guard.Mux, for a signed-in user (GET /api/posts/1: verified token, user
// and decision cached) and anonymously (GET /api/posts, a public grant: the
// decision cached). The difference with bare is the middleware's cost per
// request.
func BenchmarkMux(b *testing.B) {
	e := newEnv(b)
	mux := http.NewServeMux()
	ok := func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusOK) }
	mux.HandleFunc("GET /api/posts/{id}", ok)
	mux.HandleFunc("GET /api/posts", ok)
	guarded := e.guard.Mux(mux)
	b.Run("bare", func(b *testing.B) { benchRequests(b, e, mux, "user", "/api/posts/1") })
	b.Run("guarded-user", func(b *testing.B) { benchRequests(b, e, guarded, "user", "/api/posts/1") })
	b.Run("guarded-anonymous", func(b *testing.B) { benchRequests(b, e, guarded, "", "/api/posts") })
}

// BenchmarkGin: a bare Gin handler, then the same engine with
// ginguard.Middleware, as BenchmarkMux.
func BenchmarkGin(b *testing.B) {
	e := newEnv(b)
	handler := func(c *gin.Context) { c.Status(http.StatusOK); c.Writer.WriteHeaderNow() }
	bare := gin.New()
	bare.GET("/api/posts/:id", handler)
	guarded := gin.New()
	guarded.Use(ginguard.Middleware(e.guard))
	guarded.GET("/api/posts/:id", handler)
	guarded.GET("/api/posts", handler)
	b.Run("bare", func(b *testing.B) { benchRequests(b, e, bare, "user", "/api/posts/1") })
	b.Run("guarded-user", func(b *testing.B) { benchRequests(b, e, guarded, "user", "/api/posts/1") })
	b.Run("guarded-anonymous", func(b *testing.B) { benchRequests(b, e, guarded, "", "/api/posts") })
}
