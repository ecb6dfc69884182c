package gateway

import (
	"context"
	"fmt"
	"net"
	"sort"
	"time"

	"github.com/gatehouse/gatehouse/policy"
)

// Severity says whether a Finding stops a file from loading.
type Severity string

// The severities: an error refuses the file, a warning is logged.
const (
	SeverityError   Severity = "error"
	SeverityWarning Severity = "warning"
)

// Finding is one thing Check or Probe found in a functions file.
type Finding struct {
	Line     int
	Severity Severity
	Message  string
}

func (f Finding) String() string {
	return fmt.Sprintf("%d: %s: %s", f.Line, f.Severity, f.Message)
}

// Check finds what is wrong between functions: a name used twice, two
// functions with the same method matching exactly the same requests (an
// error), or some of the same requests (a warning: the more specific wins),
// and a function whose path overlaps one of own, Gatehouse's own routes
// (an error, whatever the methods: Gatehouse's router would answer those
// requests itself, 404 or 405, and never reach the function).
func (t *Table) Check(own policy.Catalog) []Finding {
	var out []Finding
	names := map[string]int{}
	for i := range t.Functions {
		fn := &t.Functions[i]
		if first, ok := names[fn.Name]; ok {
			out = append(out, Finding{fn.Line, SeverityError, fmt.Sprintf("function %q: the name is already used at line %d", fn.Name, first)})
		} else {
			names[fn.Name] = fn.Line
		}
		for j := range i {
			other := &t.Functions[j]
			if other.Method != fn.Method || !fn.pattern.overlaps(other.pattern) {
				continue
			}
			if fn.pattern.equivalent(other.pattern) {
				out = append(out, Finding{fn.Line, SeverityError, fmt.Sprintf("function %q: %s %s matches the same requests as %q (line %d, %s)",
					fn.Name, fn.Method, fn.Route, other.Name, other.Line, other.Route)})
			} else {
				out = append(out, Finding{fn.Line, SeverityWarning, fmt.Sprintf("function %q: %s %s overlaps %q (line %d, %s): the more specific pattern wins",
					fn.Name, fn.Method, fn.Route, other.Name, other.Line, other.Route)})
			}
		}
		for _, g := range own {
			p, err := parsePattern(g.Route)
			if err != nil || !fn.pattern.overlaps(p) {
				continue
			}
			out = append(out, Finding{fn.Line, SeverityError, fmt.Sprintf("function %q: %s overlaps Gatehouse's own route %s %s (%s)",
				fn.Name, fn.Route, g.Method, g.Route, g.Name)})
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Line < out[j].Line })
	return out
}

// Errors returns the findings that are errors.
func Errors(findings []Finding) []Finding {
	var out []Finding
	for _, f := range findings {
		if f.Severity == SeverityError {
			out = append(out, f)
		}
	}
	return out
}

// Probe opens a TCP connection to each upstream (each address once, within
// timeout) and reports those that refuse or do not answer as errors.
func (t *Table) Probe(ctx context.Context, timeout time.Duration) []Finding {
	var out []Finding
	seen := map[string]bool{}
	var d net.Dialer
	for _, fn := range t.Functions {
		addr := hostPort(fn.Upstream.Host, fn.Upstream.Scheme)
		if seen[addr] {
			continue
		}
		seen[addr] = true
		dctx, cancel := context.WithTimeout(ctx, timeout)
		conn, err := d.DialContext(dctx, "tcp", addr)
		cancel()
		if err != nil {
			out = append(out, Finding{fn.Line, SeverityError, fmt.Sprintf("upstream %s is unreachable: %v", fn.Upstream, err)})
			continue
		}
		conn.Close()
	}
	return out
}

// hostPort adds the scheme's default port to a URL's host.
func hostPort(host, scheme string) string {
	if _, _, err := net.SplitHostPort(host); err == nil {
		return host
	}
	port := "80"
	if scheme == "https" {
		port = "443"
	}
	if len(host) > 0 && host[0] == '[' {
		host = host[1 : len(host)-1]
	}
	return net.JoinHostPort(host, port)
}
