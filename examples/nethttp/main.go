// Command nethttp is a standard-library app protected by Gatehouse: its own
// routes on an http.ServeMux, each request authenticated with a Gatehouse
// JWT (or none: the public role) and authorized by Gatehouse's policy on the
// pattern the mux matched, deny unless a row grants it. Users sign in at a
// Gatehouse server that shares the database and JWT_SECRET; policy changes
// made there (admin page, CLI, SQL) reach this process through
// cluster.FollowChanges.
//
//	DATABASE_URL=sqlite://./data/gatehouse.db JWT_SECRET=… go run .   # http://localhost:8082
package main

import (
	"context"
	"encoding/json"
	"errors"
	"log"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"sync"
	"time"

	"github.com/gatehouse/gatehouse/follow"
	"github.com/gatehouse/gatehouse/guard"
	"github.com/gatehouse/gatehouse/policy"
	"github.com/gatehouse/gatehouse/setup"
)

// notesPolicy is the app's own rows, seeded with Gatehouse's default policy
// into a new database (Gatehouse's admin page edits them afterwards).
const notesPolicy = `
p, public, /api/notes, GET
p, authenticated, /api/notes/:id, GET
p, authenticated, /api/notes, POST
p, admin, /api/notes/:id, DELETE
`

// Config is what the app needs.
type Config struct {
	DatabaseURL string
	// Secret is Gatehouse's JWT_SECRET (at least 16 bytes).
	Secret []byte
	// Every is the periodic check's interval.
	Every time.Duration
}

// newApp opens the database and returns the app's handler, which follows
// policy changes until ctx is done, and the function that closes the database.
func newApp(ctx context.Context, cfg Config) (h http.Handler, closeDB func() error, err error) {
	// A new database starts with Gatehouse's default policy and the app's
	// rows; migrations and that bootstrap run under the start-up lock that
	// Gatehouse servers starting at the same moment also take.
	rules, err := policy.ParseCSV(policy.DefaultCSV + notesPolicy)
	if err != nil {
		return nil, nil, err
	}
	st, enforcer, err := setup.Open(ctx, cfg.DatabaseURL, setup.Options{Policy: rules})
	if err != nil {
		return nil, nil, err
	}
	defer func() {
		if err != nil {
			st.Close()
		}
	}()
	g, err := guard.New(guard.Config{Store: st, Enforcer: enforcer, Secret: cfg.Secret})
	if err != nil {
		return nil, nil, err
	}
	// Policy changes made elsewhere (Gatehouse's admin page, its CLI, SQL)
	// apply here within cfg.Every. With Redis, follow.Options.Notices set to
	// a *cluster.Cluster (cluster.Connect) applies them at once — at the
	// cost of linking a Redis client.
	if _, err := g.FollowChanges(ctx, follow.Options{Every: cfg.Every}); err != nil {
		return nil, nil, err
	}
	notes := &notes{byID: map[int]note{}}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /api/notes", notes.list)
	mux.HandleFunc("GET /api/notes/{id}", notes.get)
	mux.HandleFunc("POST /api/notes", notes.create)
	mux.HandleFunc("DELETE /api/notes/{id}", notes.delete)
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("ok")) })
	g.Public("GET /healthz") // the one route served without a decision
	return g.Mux(mux), st.Close, nil
}

func main() {
	secret := os.Getenv("JWT_SECRET")
	databaseURL := os.Getenv("DATABASE_URL")
	if databaseURL == "" {
		databaseURL = "sqlite://./data/gatehouse.db"
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	h, closeApp, err := newApp(ctx, Config{DatabaseURL: databaseURL, Secret: []byte(secret), Every: 10 * time.Second})
	if err != nil {
		log.Fatal(err)
	}
	defer closeApp()
	s := &http.Server{Addr: ":8082", Handler: h, ReadHeaderTimeout: 5 * time.Second}
	go func() {
		<-ctx.Done()
		s.Shutdown(context.Background())
	}()
	log.Print("nethttp on http://localhost:8082")
	if err := s.ListenAndServe(); !errors.Is(err, http.ErrServerClosed) {
		log.Print(err)
	}
}

// note is the app's own content.
type note struct {
	ID     int    `json:"id"`
	Text   string `json:"text"`
	Author string `json:"author"`
}

// notes is an in-memory note store.
type notes struct {
	mu   sync.Mutex
	next int
	byID map[int]note
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(map[string]any{"data": v})
}

func (n *notes) list(w http.ResponseWriter, r *http.Request) {
	n.mu.Lock()
	defer n.mu.Unlock()
	list := make([]note, 0, len(n.byID))
	for _, v := range n.byID {
		list = append(list, v)
	}
	writeJSON(w, http.StatusOK, list)
}

// find returns the note {id} names.
func (n *notes) find(r *http.Request) (note, bool) {
	id, err := strconv.Atoi(r.PathValue("id"))
	if err != nil {
		return note{}, false
	}
	v, ok := n.byID[id]
	return v, ok
}

func (n *notes) get(w http.ResponseWriter, r *http.Request) {
	n.mu.Lock()
	defer n.mu.Unlock()
	v, ok := n.find(r)
	if !ok {
		http.NotFound(w, r)
		return
	}
	writeJSON(w, http.StatusOK, v)
}

func (n *notes) create(w http.ResponseWriter, r *http.Request) {
	var body struct {
		Text string `json:"text"`
	}
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 64<<10)).Decode(&body); err != nil || body.Text == "" {
		http.Error(w, "want {\"text\": \"…\"}", http.StatusBadRequest)
		return
	}
	author := "anonymous" // should the policy grant POST to the public role
	if user, ok := guard.User(r.Context()); ok {
		author = user.Username
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	n.next++
	v := note{ID: n.next, Text: body.Text, Author: author}
	n.byID[v.ID] = v
	writeJSON(w, http.StatusCreated, v)
}

func (n *notes) delete(w http.ResponseWriter, r *http.Request) {
	n.mu.Lock()
	defer n.mu.Unlock()
	v, ok := n.find(r)
	if !ok {
		http.NotFound(w, r)
		return
	}
	delete(n.byID, v.ID)
	w.WriteHeader(http.StatusNoContent)
}
