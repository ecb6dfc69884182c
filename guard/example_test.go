package guard_test

import (
	"context"
	"fmt"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"time"

	"github.com/gatehouse/gatehouse/follow"
	"github.com/gatehouse/gatehouse/guard"
	"github.com/gatehouse/gatehouse/policy"
	"github.com/gatehouse/gatehouse/setup"
)

// newGuard opens Gatehouse's database (shared with a Gatehouse server that
// signs users in) and returns a guard over its users and policy, which
// follows the policy changes made there until ctx is done.
func newGuard(ctx context.Context, databaseURL string, secret []byte) (_ *guard.Guard, err error) {
	// A new database starts with Gatehouse's default policy and the app's rows;
	// migrations and that bootstrap run under the start-up lock that Gatehouse
	// servers starting at the same moment also take.
	rules, err := policy.ParseCSV(policy.DefaultCSV + "p, public, /api/notes, GET\np, authenticated, /api/notes/:id, GET\n")
	if err != nil {
		return nil, err
	}
	st, enforcer, err := setup.Open(ctx, databaseURL, setup.Options{Policy: rules})
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			st.Close()
		}
	}()
	g, err := guard.New(guard.Config{Store: st, Enforcer: enforcer, Secret: secret})
	if err != nil {
		return nil, err
	}
	// Within 10s here; at once with follow.Options.Notices = a *cluster.Cluster.
	if _, err := g.FollowChanges(ctx, follow.Options{Every: 10 * time.Second}); err != nil {
		return nil, err
	}
	return g, nil
}

// The net/http middleware on a whole http.ServeMux: every route is decided
// on the pattern the mux matched (GET /api/notes/{id} is the policy's
// /api/notes/:id), deny unless a row grants it; Public is the one opt-out.
func ExampleGuard_Mux() {
	dir, err := os.MkdirTemp("", "guard-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	g, err := newGuard(ctx, "sqlite://"+filepath.Join(dir, "gatehouse.db"), []byte("the-server's-JWT_SECRET-32-bytes!"))
	if err != nil {
		log.Fatal(err)
	}

	mux := http.NewServeMux()
	mux.HandleFunc("GET /api/notes", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintln(w, "notes for", guard.Role(r.Context()))
	})
	mux.HandleFunc("GET /api/notes/{id}", func(w http.ResponseWriter, r *http.Request) {
		user, _ := guard.User(r.Context()) // the signed-in user, typed
		fmt.Fprintln(w, "note", r.PathValue("id"), "for", user.Username)
	})
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) { fmt.Fprintln(w, "ok") })
	g.Public("GET /healthz")
	handler := g.Mux(mux) // give it to http.Server

	for _, path := range []string{"/api/notes", "/api/notes/7", "/healthz"} {
		rec := httptest.NewRecorder()
		handler.ServeHTTP(rec, httptest.NewRequest("GET", path, nil))
		fmt.Println("GET", path, rec.Code)
	}
	// Output:
	// GET /api/notes 200
	// GET /api/notes/7 403
	// GET /healthz 200
}
