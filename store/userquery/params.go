package userquery

import (
	"sort"
	"strconv"
	"strings"
)

// ---- bracket parameters -----------------------------------------------------

// qsNode is a qs-style parsed parameter: leaf values, nested keys, or both
// (which is an error wherever it matters).
type qsNode struct {
	vals []string
	kids map[string]*qsNode
	next int // next index for "[]"
}

func (n *qsNode) child(seg string) *qsNode {
	if n.kids == nil {
		n.kids = make(map[string]*qsNode)
	}
	if seg == "" {
		seg = strconv.Itoa(n.next)
	}
	if i, ok := arrayIndex(seg); ok && i >= n.next {
		n.next = i + 1
	}
	c := n.kids[seg]
	if c == nil {
		c = &qsNode{}
		n.kids[seg] = c
	}
	return c
}

func (n *qsNode) leaf() bool { return len(n.kids) == 0 }

// sortedKeys returns array indexes in numeric order, then the other keys.
func (n *qsNode) sortedKeys() []string {
	keys := make([]string, 0, len(n.kids))
	for k := range n.kids {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		a, aok := arrayIndex(keys[i])
		b, bok := arrayIndex(keys[j])
		switch {
		case aok && bok:
			return a < b
		case aok != bok:
			return aok
		}
		return keys[i] < keys[j]
	})
	return keys
}

// elements returns the children of an array node (every key an index).
func (n *qsNode) elements() ([]*qsNode, bool) {
	if len(n.vals) > 0 || len(n.kids) == 0 {
		return nil, false
	}
	out := make([]*qsNode, 0, len(n.kids))
	for _, k := range n.sortedKeys() {
		if !isIndex(k) {
			return nil, false
		}
		out = append(out, n.kids[k])
	}
	return out, true
}

func arrayIndex(s string) (int, bool) {
	if s == "" || len(s) > 6 || (len(s) > 1 && s[0] == '0') {
		return 0, false
	}
	i := 0
	for _, c := range []byte(s) {
		if c < '0' || c > '9' {
			return 0, false
		}
		i = i*10 + int(c-'0')
	}
	return i, true
}

func isIndex(s string) bool { _, ok := arrayIndex(s); return ok }

// knownParams are the top-level parameters the users endpoints read; v5 picks
// only known ones, so anything else is ignored.
var knownParams = map[string]bool{
	"filters": true, "sort": true, "fields": true, "populate": true, "pagination": true,
	"page": true, "pageSize": true, "start": true, "limit": true,
}

// splitKey splits "filters[a][b]" into "filters" and [a b]. Like qs, a key
// starting with a bracket loses it ("[filters][a]" is "filters[a]"). ok is
// false when the brackets are malformed.
func splitKey(key string) (name string, segs []string, ok bool) {
	rest := key
	if strings.HasPrefix(key, "[") {
		j := strings.IndexByte(key, ']')
		if j < 0 {
			return key, nil, false
		}
		name, rest = key[1:j], key[j+1:]
	} else if i := strings.IndexByte(key, '['); i >= 0 {
		name, rest = key[:i], key[i:]
	} else {
		return key, nil, true
	}
	for rest != "" {
		if rest[0] != '[' {
			return name, nil, false
		}
		j := strings.IndexByte(rest, ']')
		if j < 0 || strings.IndexByte(rest[1:j], '[') >= 0 {
			return name, nil, false
		}
		segs = append(segs, rest[1:j])
		rest = rest[j+1:]
	}
	return name, segs, true
}

// quoteInput renders untrusted input for an error message, shortened.
func quoteInput(s string) string {
	if len(s) > 64 {
		s = s[:64] + "…"
	}
	return strconv.Quote(s)
}
