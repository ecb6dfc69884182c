package gateway

import (
	"fmt"
	"strings"
)

// segKind is what one segment of a route pattern matches.
type segKind int

const (
	literal  segKind = iota // itself, case-insensitively (Table.Match)
	param                   // :name, any one segment
	catchAll                // *name, the rest of the path (last only)
)

// segment is one parsed segment of a route pattern.
type segment struct {
	kind segKind
	// text is the literal, or the parameter's name.
	text string
}

// pattern is a parsed route pattern in Gatehouse's (Gin's) syntax:
// /api/posts/:id, /files/*path.
type pattern []segment

// parsePattern parses and checks a pattern: it starts with "/", has no
// empty, "." or ".." segment and no trailing slash; literals are RFC 3986
// unreserved characters only (what Canonical leaves as they are); :name and
// *name are whole segments with distinct names, *name last.
func parsePattern(p string) (pattern, error) {
	if !strings.HasPrefix(p, "/") {
		return nil, fmt.Errorf("%q does not start with /", p)
	}
	if p == "/" {
		return pattern{}, nil
	}
	if strings.HasSuffix(p, "/") {
		return nil, fmt.Errorf("%q ends with / (a trailing slash is ignored when matching: drop it)", p)
	}
	raw := strings.Split(p[1:], "/")
	out := make(pattern, len(raw))
	names := map[string]bool{}
	for i, seg := range raw {
		switch {
		case seg == "":
			return nil, fmt.Errorf("%q has an empty segment", p)
		case seg == "." || seg == "..":
			return nil, fmt.Errorf("%q has a dot segment", p)
		case seg[0] == ':' || seg[0] == '*':
			name := seg[1:]
			if !identifier(name) {
				return nil, fmt.Errorf("%q: parameter %q: want a name of letters, digits and _", p, seg)
			}
			if names[name] {
				return nil, fmt.Errorf("%q: parameter %q appears twice", p, name)
			}
			names[name] = true
			kind := param
			if seg[0] == '*' {
				if i != len(raw)-1 {
					return nil, fmt.Errorf("%q: catch-all %q must be the last segment", p, seg)
				}
				kind = catchAll
			}
			out[i] = segment{kind, name}
		default:
			for j := 0; j < len(seg); j++ {
				if !unreserved(seg[j]) {
					return nil, fmt.Errorf("%q: segment %q: literals are letters, digits and - . _ ~ only", p, seg)
				}
			}
			out[i] = segment{literal, seg}
		}
	}
	return out, nil
}

func identifier(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c == '_' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || i > 0 && '0' <= c && c <= '9') {
			return false
		}
	}
	return true
}

// params returns the names of the pattern's parameters and catch-all.
func (p pattern) params() map[string]segKind {
	out := map[string]segKind{}
	for _, s := range p {
		if s.kind != literal {
			out[s.text] = s.kind
		}
	}
	return out
}

// match matches decoded path segments; fold compares literals
// case-insensitively. A catch-all takes one or more segments.
func (p pattern) match(path []string, fold bool) bool {
	for i, s := range p {
		if s.kind == catchAll {
			return i < len(path)
		}
		if i >= len(path) {
			return false
		}
		if s.kind == literal && !(path[i] == s.text || fold && strings.EqualFold(path[i], s.text)) {
			return false
		}
	}
	return len(p) == len(path)
}

// moreSpecific reports whether p wins over q when both match a path, as
// Gin's tree decides: at the first position where they differ, a literal
// beats a parameter, which beats a catch-all.
func (p pattern) moreSpecific(q pattern) bool {
	for i := 0; i < len(p) && i < len(q); i++ {
		if p[i].kind != q[i].kind {
			return p[i].kind < q[i].kind
		}
	}
	return len(p) > len(q)
}

// overlaps reports whether some path matches both patterns (literals
// compared case-insensitively, as Table.Match does).
func (p pattern) overlaps(q pattern) bool {
	for i := 0; ; i++ {
		switch {
		case i == len(p) && i == len(q):
			return true
		case i == len(p) || i == len(q):
			return false
		case p[i].kind == catchAll || q[i].kind == catchAll:
			return true
		case p[i].kind == literal && q[i].kind == literal && !strings.EqualFold(p[i].text, q[i].text):
			return false
		}
	}
}

// equivalent reports whether the patterns match exactly the same paths.
func (p pattern) equivalent(q pattern) bool {
	if len(p) != len(q) {
		return false
	}
	for i := range p {
		if p[i].kind != q[i].kind || p[i].kind == literal && !strings.EqualFold(p[i].text, q[i].text) {
			return false
		}
	}
	return true
}

// expand builds an escaped path from the pattern, taking each parameter's
// value from the request's escaped segments matched by from.
func (p pattern) expand(from pattern, escaped []string) string {
	values := map[string]string{}
	for i, s := range from {
		switch s.kind {
		case param:
			values[s.text] = escaped[i]
		case catchAll:
			values[s.text] = strings.Join(escaped[i:], "/")
		}
	}
	var b strings.Builder
	for _, s := range p {
		b.WriteByte('/')
		if s.kind == literal {
			b.WriteString(s.text)
		} else {
			b.WriteString(values[s.text])
		}
	}
	if b.Len() == 0 {
		return "/"
	}
	return b.String()
}
