// Package gateway makes Gatehouse the authorization point of an app written
// in any language. The app's functions are declared in a functions file
// (ROUTES_FILE, YAML): each has a name, a method, a route pattern in
// Gatehouse's syntax and an upstream. They join Gatehouse's catalogue, so
// roles, the admin page, lint, explain and the matrix tests cover them, and
// Gatehouse either answers a proxy's forward-auth subrequest about them
// (nginx auth_request, Caddy forward_auth, Traefik ForwardAuth) or
// reverse-proxies them to their upstream itself (Proxy).
//
// Request paths are canonicalised before matching (Canonical): spellings
// that servers read differently (.., %2e%2e, %2F, //, ;) are refused, never
// guessed, so no spelling of a path is decided as one function and served
// as another.
//
// gateway imports neither Gin nor handlers.
package gateway

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"regexp"
	"strings"

	"github.com/gatehouse/gatehouse/policy"
	"github.com/goccy/go-yaml"
)

// MaxFileSize bounds a functions file.
const MaxFileSize = 1 << 20

// Function is one function of the protected app.
type Function struct {
	// Function is the catalogue entry: name, method and route pattern.
	policy.Function
	// Upstream is where the function is served (gateway mode).
	Upstream *url.URL
	// Rewrite, when set, is the upstream path pattern: the route's
	// parameters are substituted (/posts/:id for /api/posts/:id).
	Rewrite string
	// Public opts the function out of authentication and authorization:
	// anyone may call it, no token is read.
	Public bool
	// PassAuthorization passes the client's Authorization header on to the
	// upstream, for an app that verifies Gatehouse's token itself. Off by
	// default: a Gatehouse token is stripped, so that the app cannot replay
	// it against Gatehouse; X-Gatehouse-Token (GATEWAY_TOKEN_SECRET) is the
	// supported way to hand the app a verifiable identity.
	PassAuthorization bool
	// MaxBody caps the request body in bytes (0: GATEWAY_MAX_BODY).
	MaxBody int64
	// Line is where the function starts in its file.
	Line int

	pattern, rewrite pattern
}

// fileFunction is a function as written in the file.
type fileFunction struct {
	Name     string `yaml:"name"`
	Method   string `yaml:"method"`
	Path     string `yaml:"path"`
	Upstream string `yaml:"upstream"`
	Rewrite  string `yaml:"rewrite"`
	Public   bool   `yaml:"public"`
	// PassAuthorization: see Function.PassAuthorization.
	PassAuthorization bool `yaml:"passAuthorization"`
	// MaxBody: see Function.MaxBody.
	MaxBody int64 `yaml:"maxBody"`
}

// fileFormat is the functions file: a default upstream and the functions.
type fileFormat struct {
	Upstream  string         `yaml:"upstream"`
	Functions []fileFunction `yaml:"functions"`
}

// Problem is one thing wrong with a functions file, at a line (0: the file
// as a whole).
type Problem struct {
	Line    int
	Message string
}

// FileError lists what is wrong with a functions file.
type FileError struct {
	Source   string
	Problems []Problem
}

func (e *FileError) Error() string {
	lines := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		if p.Line > 0 {
			lines[i] = fmt.Sprintf("%s:%d: %s", e.Source, p.Line, p.Message)
		} else {
			lines[i] = fmt.Sprintf("%s: %s", e.Source, p.Message)
		}
	}
	return "gateway: " + strings.Join(lines, "\n")
}

// methods are the methods a function may have.
var methods = map[string]bool{http.MethodGet: true, http.MethodHead: true, http.MethodPost: true, http.MethodPut: true,
	http.MethodPatch: true, http.MethodDelete: true, http.MethodOptions: true}

// functionName is api::<api>.<controller>.<action> or
// plugin::<plugin>.<controller>.<action>, Strapi's action names.
var functionName = regexp.MustCompile(`^(api|plugin)::[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$`)

// ownPrefix is the names of Gatehouse's own functions, which a file may not
// claim.
const ownPrefix = "plugin::users-permissions."

// Load reads and parses a functions file (Parse).
func Load(path string) (*Table, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("gateway: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, MaxFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("gateway: read %s: %w", path, err)
	}
	if len(data) > MaxFileSize {
		return nil, &FileError{Source: path, Problems: []Problem{{Message: fmt.Sprintf("larger than %d bytes", MaxFileSize)}}}
	}
	return Parse(data, path)
}

// Parse parses a functions file (source names it in errors) and checks
// each function on its own: unknown keys, missing fields, a malformed name,
// method, pattern, upstream or rewrite are a *FileError with line numbers.
// What concerns several functions (duplicates, overlaps, Gatehouse's own
// routes) is Check's.
//
//	upstream: http://127.0.0.1:3000        # default for every function
//	functions:
//	  - name: api::post.post.find
//	    method: GET
//	    path: /api/posts
//	  - name: api::post.post.findOne
//	    method: GET
//	    path: /api/posts/:id
//	    rewrite: /posts/:id                 # optional upstream path
//	  - name: api::health.health.check
//	    method: GET
//	    path: /api/healthz
//	    public: true                        # no token, no decision
//	  - name: api::post.post.update
//	    method: PUT
//	    path: /api/posts/:id
//	    passAuthorization: true             # the app verifies the token itself
//	    maxBody: 65536                      # bytes (default GATEWAY_MAX_BODY)
func Parse(data []byte, source string) (*Table, error) {
	var ff fileFormat
	if len(bytes.TrimSpace(data)) == 0 {
		return nil, &FileError{Source: source, Problems: []Problem{{Message: "empty file: want a functions: list"}}}
	}
	if err := yaml.UnmarshalWithOptions(data, &ff, yaml.DisallowUnknownField()); err != nil {
		var yerr yaml.Error
		if errors.As(err, &yerr) {
			line := 0
			if tok := yerr.GetToken(); tok != nil && tok.Position != nil {
				line = tok.Position.Line
			}
			return nil, &FileError{Source: source, Problems: []Problem{{Line: line, Message: yerr.GetMessage()}}}
		}
		return nil, &FileError{Source: source, Problems: []Problem{{Message: err.Error()}}}
	}
	lines := functionLines(data, len(ff.Functions))
	var problems []Problem
	if len(ff.Functions) == 0 {
		problems = append(problems, Problem{Message: "no functions: want a functions: list"})
	}
	t := &Table{Source: source}
	for i, raw := range ff.Functions {
		fn, errs := newFunction(raw, ff.Upstream)
		fn.Line = lines[i]
		for _, err := range errs {
			problems = append(problems, Problem{Line: lines[i], Message: fmt.Sprintf("function %q: %v", raw.Name, err)})
		}
		t.Functions = append(t.Functions, fn)
	}
	if len(problems) > 0 {
		return nil, &FileError{Source: source, Problems: problems}
	}
	return t, nil
}

// functionLines returns the line of each element of the functions list.
func functionLines(data []byte, n int) []int {
	lines := make([]int, n)
	for i := range n {
		p, err := yaml.PathString(fmt.Sprintf("$.functions[%d]", i))
		if err != nil {
			continue
		}
		node, err := p.ReadNode(bytes.NewReader(data))
		if err != nil || node == nil || node.GetToken() == nil || node.GetToken().Position == nil {
			continue
		}
		lines[i] = node.GetToken().Position.Line
	}
	return lines
}

// newFunction checks one function as written.
func newFunction(raw fileFunction, defaultUpstream string) (Function, []error) {
	var errs []error
	fn := Function{Rewrite: raw.Rewrite, Public: raw.Public, PassAuthorization: raw.PassAuthorization, MaxBody: raw.MaxBody}
	if raw.MaxBody < 0 {
		errs = append(errs, errors.New("maxBody: want a number of bytes (0 or absent: GATEWAY_MAX_BODY)"))
	}
	fn.Name = raw.Name
	switch {
	case raw.Name == "":
		errs = append(errs, errors.New("name is missing"))
	case !functionName.MatchString(raw.Name):
		errs = append(errs, errors.New("name: want api::<api>.<controller>.<action>, such as api::post.post.find"))
	case strings.HasPrefix(raw.Name, ownPrefix):
		errs = append(errs, fmt.Errorf("name: %s… names Gatehouse's own functions", ownPrefix))
	}
	fn.Method = strings.ToUpper(raw.Method)
	if !methods[fn.Method] {
		errs = append(errs, fmt.Errorf("method %q: want GET, HEAD, POST, PUT, PATCH, DELETE or OPTIONS", raw.Method))
	}
	fn.Route = raw.Path
	var err error
	if raw.Path == "" {
		errs = append(errs, errors.New("path is missing"))
	} else if fn.pattern, err = parsePattern(raw.Path); err != nil {
		errs = append(errs, fmt.Errorf("path: %w", err))
	}
	if raw.Rewrite != "" {
		if fn.rewrite, err = parsePattern(raw.Rewrite); err != nil {
			errs = append(errs, fmt.Errorf("rewrite: %w", err))
		} else if fn.pattern != nil {
			have := fn.pattern.params()
			for name, kind := range fn.rewrite.params() {
				if k, ok := have[name]; !ok || k != kind {
					errs = append(errs, fmt.Errorf("rewrite: %q is not a parameter of the path", name))
				}
			}
		}
	}
	up := raw.Upstream
	if up == "" {
		up = defaultUpstream
	}
	if fn.Upstream, err = parseUpstream(up); err != nil {
		errs = append(errs, fmt.Errorf("upstream: %w", err))
	}
	return fn, errs
}

// parseUpstream checks an upstream URL: absolute http(s), a host, no
// credentials, query or fragment; a path is a prefix.
func parseUpstream(s string) (*url.URL, error) {
	if s == "" {
		return nil, errors.New("missing (set it on the function or at the top of the file)")
	}
	u, err := url.Parse(s)
	switch {
	case err != nil:
		return nil, fmt.Errorf("%q is not a URL", s)
	case u.Scheme != "http" && u.Scheme != "https":
		return nil, fmt.Errorf("%q: want an http:// or https:// URL", s)
	case u.Host == "" || u.Hostname() == "":
		return nil, fmt.Errorf("%q has no host", s)
	case u.User != nil:
		return nil, fmt.Errorf("%q has credentials: an upstream URL must not", s)
	case u.RawQuery != "" || u.Fragment != "" || u.ForceQuery:
		return nil, fmt.Errorf("%q has a query or fragment", s)
	}
	if p := u.Port(); p != "" {
		var n int
		if _, err := fmt.Sscanf(p, "%d", &n); err != nil || n < 1 || n > 65535 {
			return nil, fmt.Errorf("%q: bad port", s)
		}
	}
	u.Path = strings.TrimSuffix(u.Path, "/")
	u.RawPath = ""
	return u, nil
}
