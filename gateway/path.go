package gateway

import (
	"errors"
	"fmt"
	"strings"
)

// ErrPath is the error class of request paths Gatehouse refuses to decide
// on, because some server behind it could read them as another path.
var ErrPath = errors.New("gateway: ambiguous request path")

// PathError says why a request path was refused.
type PathError struct {
	Path, Reason string
}

func (e *PathError) Error() string { return fmt.Sprintf("gateway: path %q: %s", e.Path, e.Reason) }

// Is makes errors.Is(err, ErrPath) true.
func (e *PathError) Is(target error) bool { return target == ErrPath }

// Canonical checks an escaped request path (r.URL.EscapedPath(), or the path
// part of X-Forwarded-Uri) and returns its decoded segments and the escaped
// path without its trailing slash, which is what is matched and what the
// upstream receives. It refuses, rather than guesses, every spelling that
// servers disagree on, so that no spelling of a path is decided as one
// function and served as another:
//
//   - a path not starting with "/";
//   - an empty segment ("//"), a "." or ".." segment, raw or encoded
//     (%2e%2e): servers that clean paths would serve another route;
//   - a "\" or ";" anywhere (IIS-style separators, Java's matrix
//     parameters, which some servers strip before routing);
//   - an encoded "/", "\", "%" (double encoding), NUL or control character,
//     and an encoded unreserved character (%61 for "a"): some routers match
//     the raw path and some the decoded one, so a path whose two readings
//     differ is refused (route literals are unreserved characters only, see
//     the functions file);
//   - raw spaces, control characters and malformed escapes.
//
// A single trailing slash is dropped, as Gatehouse's router drops it. Case
// is kept: matching (Table.Match) handles it.
func Canonical(escaped string) (segments []string, canonical string, err error) {
	refuse := func(reason string) ([]string, string, error) {
		return nil, "", &PathError{Path: escaped, Reason: reason}
	}
	if !strings.HasPrefix(escaped, "/") {
		return refuse("does not start with /")
	}
	p := escaped
	if len(p) > 1 && strings.HasSuffix(p, "/") {
		p = p[:len(p)-1]
	}
	if p == "/" {
		return nil, "/", nil
	}
	raw := strings.Split(p[1:], "/")
	segments = make([]string, len(raw))
	for i, seg := range raw {
		decoded, reason := decodeSegment(seg)
		if reason != "" {
			return refuse(reason)
		}
		segments[i] = decoded
	}
	return segments, p, nil
}

// decodeSegment decodes one escaped segment, or says why it is refused.
func decodeSegment(seg string) (string, string) {
	if seg == "" {
		return "", "empty segment (//)"
	}
	var b strings.Builder
	for i := 0; i < len(seg); i++ {
		c := seg[i]
		switch {
		case c == '%':
			if i+2 >= len(seg) || !isHex(seg[i+1]) || !isHex(seg[i+2]) {
				return "", "malformed percent-encoding"
			}
			d := unhex(seg[i+1])<<4 | unhex(seg[i+2])
			switch {
			case d == '/' || d == '\\':
				return "", "encoded path separator (%2F or %5C)"
			case d == '%':
				return "", "double encoding (%25)"
			case d < 0x20 || d == 0x7f:
				return "", "encoded control character"
			case unreserved(d):
				return "", "encoded unreserved character (such as %2e or %61)"
			}
			b.WriteByte(d)
			i += 2
		case c == '\\':
			return "", "backslash"
		case c == ';':
			return "", "matrix parameter (;)"
		case c <= ' ' || c == 0x7f:
			return "", "space or control character"
		default:
			b.WriteByte(c)
		}
	}
	d := b.String()
	if d == "." || d == ".." {
		return "", "dot segment (. or ..)"
	}
	return d, ""
}

// unreserved reports RFC 3986's unreserved characters: what a route literal
// is made of, and what a canonical path never percent-encodes.
func unreserved(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '.' || c == '_' || c == '~'
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

func unhex(c byte) byte {
	switch {
	case '0' <= c && c <= '9':
		return c - '0'
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10
	}
	return c - 'A' + 10
}
