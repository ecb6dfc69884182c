package gateway

import (
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/gatehouse/gatehouse/policy"
)

// LoadChecked loads a functions file and checks it against own, Gatehouse's
// routes: a file with errors (Parse's or Check's) is refused; the warnings
// come back with the table.
func LoadChecked(path string, own policy.Catalog) (*Table, []Finding, error) {
	t, err := Load(path)
	if err != nil {
		return nil, nil, err
	}
	findings := t.Check(own)
	if errs := Errors(findings); len(errs) > 0 {
		lines := make([]string, len(errs))
		for i, f := range errs {
			lines[i] = fmt.Sprintf("%s:%d: %s", path, f.Line, f.Message)
		}
		return nil, findings, fmt.Errorf("gateway: %s", strings.Join(lines, "\n"))
	}
	return t, findings, nil
}

// Routes holds the current functions file. Reload replaces it atomically:
// requests see the old table or the new one, never a mix, and a file that
// does not load keeps the old one.
type Routes struct {
	path string
	own  policy.Catalog
	log  *slog.Logger
	cur  atomic.Pointer[Table]
	// mu serialises reloads (two SIGHUPs in a row).
	mu sync.Mutex
}

// NewRoutes loads the functions file at path, checked against own
// (Gatehouse's routes); it fails when the file does not load.
func NewRoutes(path string, own policy.Catalog, log *slog.Logger) (*Routes, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	r := &Routes{path: path, own: own, log: log}
	t, findings, err := LoadChecked(path, own)
	if err != nil {
		return nil, err
	}
	r.warn(findings)
	r.cur.Store(t)
	return r, nil
}

// Table returns the current table.
func (r *Routes) Table() *Table {
	if r == nil {
		return nil
	}
	return r.cur.Load()
}

// Path is the functions file's path.
func (r *Routes) Path() string { return r.path }

// Reload reads the file again. On success the new table replaces the old
// one; on failure the old one stays, and the error (also logged) says why.
func (r *Routes) Reload() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	t, findings, err := LoadChecked(r.path, r.own)
	if err != nil {
		r.log.Error("functions file: reload refused, keeping the previous one", "file", r.path, "err", err)
		return err
	}
	r.warn(findings)
	r.cur.Store(t)
	r.log.Info("functions file: reloaded", "file", r.path, "functions", len(t.Functions))
	return nil
}

func (r *Routes) warn(findings []Finding) {
	for _, f := range findings {
		r.log.Warn("functions file", "file", r.path, "line", f.Line, "finding", f.Message)
	}
}
