package gateway

import (
	"errors"
	"net/http"

	"github.com/gatehouse/gatehouse/policy"
)

// ErrNoFunction is a request that matches no declared function: it is
// refused (404), never passed on.
var ErrNoFunction = errors.New("gateway: no function matches the request")

// Table is a parsed functions file.
type Table struct {
	// Source names the file.
	Source    string
	Functions []Function
}

// Catalog returns the functions' catalogue entries, in file order.
func (t *Table) Catalog() policy.Catalog {
	if t == nil {
		return nil
	}
	out := make(policy.Catalog, len(t.Functions))
	for i, fn := range t.Functions {
		out[i] = fn.Function
	}
	return out
}

// Match finds the function a request calls, from its method and its decoded
// path segments (Canonical). Literal segments match case-insensitively, so
// an upstream that routes case-insensitively cannot be reached under a
// spelling decided as another function; when the case-sensitive reading
// would pick another function than the case-insensitive one, the request
// is refused (ErrPath): the upstream could serve either. Of several
// matching functions the most specific wins (Gin's rule: at the first
// difference a literal beats :param beats *catch-all). HEAD falls back to
// the GET function and is decided as it. ErrNoFunction when none matches.
func (t *Table) Match(method string, segments []string) (*Function, error) {
	if t == nil {
		return nil, ErrNoFunction
	}
	fn, err := t.match(method, segments)
	if errors.Is(err, ErrNoFunction) && method == http.MethodHead {
		return t.match(http.MethodGet, segments)
	}
	return fn, err
}

func (t *Table) match(method string, segments []string) (*Function, error) {
	folded, exact := t.best(method, segments, true), t.best(method, segments, false)
	switch {
	case folded == nil:
		return nil, ErrNoFunction
	case exact != nil && exact != folded:
		return nil, &PathError{Path: "/" + joinSegments(segments), Reason: "its letter case makes it another function's path"}
	}
	return folded, nil
}

func (t *Table) best(method string, segments []string, fold bool) *Function {
	var best *Function
	for i := range t.Functions {
		fn := &t.Functions[i]
		if fn.Method != method || !fn.pattern.match(segments, fold) {
			continue
		}
		if best == nil || fn.pattern.moreSpecific(best.pattern) {
			best = fn
		}
	}
	return best
}

func joinSegments(s []string) string {
	n := 0
	for _, x := range s {
		n += len(x) + 1
	}
	b := make([]byte, 0, n)
	for i, x := range s {
		if i > 0 {
			b = append(b, '/')
		}
		b = append(b, x...)
	}
	return string(b)
}

// UpstreamPath is the escaped path the upstream receives for a request to
// fn whose canonical escaped path is canonical: the upstream URL's own path
// prefix, then the rewrite pattern with the request's parameters, or the
// canonical path itself.
func (fn *Function) UpstreamPath(canonical string) string {
	p := canonical
	if fn.rewrite != nil {
		var escaped []string
		if canonical != "/" {
			escaped = splitEscaped(canonical)
		}
		p = fn.rewrite.expand(fn.pattern, escaped)
	}
	if prefix := fn.Upstream.EscapedPath(); prefix != "" && prefix != "/" {
		if p == "/" {
			return prefix
		}
		return prefix + p
	}
	return p
}

func splitEscaped(p string) []string {
	var out []string
	start := 1
	for i := 1; i <= len(p); i++ {
		if i == len(p) || p[i] == '/' {
			out = append(out, p[start:i])
			start = i + 1
		}
	}
	return out
}
