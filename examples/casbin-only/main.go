// Command casbin-only is a process that shares Gatehouse's database and
// enforces the same decisions with nothing of Gatehouse: plain Casbin
// (github.com/casbin/casbin/v2), its gorm-adapter over the casbin_rule table,
// and Casbin's standard Redis watcher (github.com/casbin/redis-watcher/v2),
// as a worker or a service in another team's code base would.
//
// Gatehouse announces each policy change on the watcher's channel (/casbin,
// REDIS_WATCHER_CHANNEL) as the watcher's Update message, which the
// watcher's DefaultUpdateCallback answers by loading the policy again; a
// change made here with AddPolicy is written through the adapter and
// announced by the watcher, and every Gatehouse instance reloads.
//
//	DATABASE_URL=sqlite://./data/gatehouse.db REDIS_ADDR=127.0.0.1:6379 go run .
//	curl 'localhost:8081/enforce?sub=public&obj=/api/users/me&act=GET'   # {"allowed":false}
//
// model.conf is a copy of Gatehouse's (policy/model.conf); the test checks
// that they are the same.
package main

import (
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"log"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/casbin/casbin/v2"
	"github.com/casbin/casbin/v2/model"
	"github.com/casbin/casbin/v2/persist"
	gormadapter "github.com/casbin/gorm-adapter/v3"
	rediswatcher "github.com/casbin/redis-watcher/v2"
	"github.com/glebarez/sqlite"
	"gorm.io/driver/postgres"
	"gorm.io/gorm"
)

//go:embed model.conf
var modelText string

// openDB opens sqlite://PATH or postgres://… (the URL Gatehouse is given).
func openDB(databaseURL string) (*gorm.DB, error) {
	var dialector gorm.Dialector
	switch {
	case strings.HasPrefix(databaseURL, "sqlite://"):
		// Gatehouse keeps the file in WAL mode; wait for its writes rather
		// than failing with SQLITE_BUSY.
		dialector = sqlite.Open(strings.TrimPrefix(databaseURL, "sqlite://") + "?_pragma=busy_timeout(5000)")
	case strings.HasPrefix(databaseURL, "postgres://"), strings.HasPrefix(databaseURL, "postgresql://"):
		dialector = postgres.Open(databaseURL)
	default:
		return nil, fmt.Errorf("DATABASE_URL: want sqlite://PATH or postgres://…, got %q", databaseURL)
	}
	return gorm.Open(dialector, &gorm.Config{})
}

// newEnforcer loads the policy from db's casbin_rule table and follows the
// changes announced on the watcher channel of the Redis at redisAddr. Close
// the watcher when done.
func newEnforcer(db *gorm.DB, redisAddr, channel string) (*casbin.SyncedEnforcer, persist.Watcher, error) {
	adapter, err := gormadapter.NewAdapterByDB(db)
	if err != nil {
		return nil, nil, err
	}
	m, err := model.NewModelFromString(modelText)
	if err != nil {
		return nil, nil, err
	}
	e, err := casbin.NewSyncedEnforcer(m, adapter)
	if err != nil {
		return nil, nil, err
	}
	w, err := rediswatcher.NewWatcher(redisAddr, rediswatcher.WatcherOptions{Channel: channel, IgnoreSelf: true})
	if err != nil {
		return nil, nil, fmt.Errorf("redis watcher at %s: %w", redisAddr, err)
	}
	if err := e.SetWatcher(w); err != nil {
		w.Close()
		return nil, nil, err
	}
	// The watcher's own callback: Update (Gatehouse's message) loads the
	// policy again; UpdateForAddPolicy and the like apply the one change.
	if err := w.SetUpdateCallback(rediswatcher.DefaultUpdateCallback(e)); err != nil {
		w.Close()
		return nil, nil, err
	}
	return e, w, nil
}

// enforceHandler answers GET /enforce?sub=ROLE&obj=ROUTE&act=METHOD with
// {"allowed":true|false}: the decision Gatehouse makes for the role type,
// route pattern and method.
func enforceHandler(e *casbin.SyncedEnforcer) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		sub, obj, act := q.Get("sub"), q.Get("obj"), q.Get("act")
		if sub == "" || obj == "" || act == "" {
			http.Error(w, "want sub, obj and act", http.StatusBadRequest)
			return
		}
		allowed, err := e.Enforce(sub, obj, act)
		if err != nil {
			http.Error(w, "cannot decide", http.StatusInternalServerError)
			log.Printf("enforce %s %s %s: %v", sub, obj, act, err)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(map[string]bool{"allowed": allowed})
	})
}

func run() error {
	databaseURL, redisAddr := os.Getenv("DATABASE_URL"), os.Getenv("REDIS_ADDR")
	if databaseURL == "" || redisAddr == "" {
		return errors.New("set DATABASE_URL (Gatehouse's) and REDIS_ADDR (host:port of Gatehouse's Redis)")
	}
	channel := os.Getenv("REDIS_WATCHER_CHANNEL")
	if channel == "" {
		channel = "/casbin"
	}
	db, err := openDB(databaseURL)
	if err != nil {
		return err
	}
	e, w, err := newEnforcer(db, redisAddr, channel)
	if err != nil {
		return err
	}
	defer w.Close()
	mux := http.NewServeMux()
	mux.Handle("GET /enforce", enforceHandler(e))
	log.Print("casbin-only on http://localhost:8081")
	s := &http.Server{Addr: ":8081", Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	return s.ListenAndServe()
}

func main() {
	if err := run(); err != nil {
		log.Fatal(err)
	}
}
