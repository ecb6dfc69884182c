package policy

import (
	"bufio"
	"encoding/csv"
	"fmt"
	"io"
	"net/http"
	"strings"
)

// Rule is one policy row: Type "p" with Values (role, route pattern, method),
// or Type "g" with Values (role, inherited role).
type Rule struct {
	Type   string   `json:"ptype"`
	Values []string `json:"values"`
	// Line is the CSV line the rule was read from (0 otherwise).
	Line int `json:"-"`
}

// String renders the rule as a CSV line: "p, public, /api/auth/local, POST".
func (r Rule) String() string {
	return r.Type + ", " + strings.Join(r.Values, ", ")
}

// LineError names the CSV line a policy error comes from.
type LineError struct {
	Line int
	Text string
	Err  string
}

func (e *LineError) Error() string {
	return fmt.Sprintf("policy: line %d: %s: %q", e.Line, e.Err, e.Text)
}

// maxField matches gorm-adapter's column size on PostgreSQL and MySQL.
const maxField = 100

var methods = map[string]bool{
	http.MethodGet: true, http.MethodPost: true, http.MethodPut: true, http.MethodPatch: true,
	http.MethodDelete: true, http.MethodHead: true, http.MethodOptions: true, "*": true,
}

// ParseCSV reads a policy in CSV form: one rule a line, "p, ROLE, ROUTE, METHOD"
// or "g, ROLE, INHERITED_ROLE"; "#" starts a comment line; blank lines are
// skipped. Every syntax error is a *LineError naming its line.
func ParseCSV(text string) ([]Rule, error) {
	var rules []Rule
	scanner := bufio.NewScanner(strings.NewReader(text))
	scanner.Buffer(make([]byte, 64*1024), 1024*1024)
	line := 0
	for scanner.Scan() {
		line++
		raw := scanner.Text()
		trimmed := strings.TrimSpace(raw)
		if trimmed == "" || strings.HasPrefix(trimmed, "#") {
			continue
		}
		rule, err := parseLine(trimmed)
		if err != "" {
			return nil, &LineError{Line: line, Text: raw, Err: err}
		}
		rule.Line = line
		rules = append(rules, rule)
	}
	if err := scanner.Err(); err != nil {
		return nil, fmt.Errorf("policy: read: %w", err)
	}
	return rules, nil
}

func parseLine(line string) (Rule, string) {
	r := csv.NewReader(strings.NewReader(line))
	r.TrimLeadingSpace = true
	r.FieldsPerRecord = -1
	fields, err := r.Read()
	if err != nil && err != io.EOF {
		return Rule{}, "not CSV: " + err.Error()
	}
	for i := range fields {
		fields[i] = strings.TrimSpace(fields[i])
		if fields[i] == "" {
			return Rule{}, fmt.Sprintf("field %d is empty", i+1)
		}
		if len(fields[i]) > maxField {
			return Rule{}, fmt.Sprintf("field %d is longer than %d characters", i+1, maxField)
		}
		if strings.ContainsAny(fields[i], "\x00\r\n") {
			return Rule{}, fmt.Sprintf("field %d has a control character", i+1)
		}
	}
	switch fields[0] {
	case "p":
		if len(fields) != 4 {
			return Rule{}, "a p row is: p, ROLE, ROUTE, METHOD"
		}
		route, method := fields[2], strings.ToUpper(fields[3])
		if msg := checkRoute(route); msg != "" {
			return Rule{}, msg
		}
		if !methods[method] {
			return Rule{}, fmt.Sprintf("unknown method %q", fields[3])
		}
		return Rule{Type: "p", Values: []string{fields[1], route, method}}, ""
	case "g":
		if len(fields) != 3 {
			return Rule{}, "a g row is: g, ROLE, INHERITED_ROLE"
		}
		if fields[1] == fields[2] {
			return Rule{}, "a role cannot inherit itself"
		}
		return Rule{Type: "g", Values: []string{fields[1], fields[2]}}, ""
	default:
		return Rule{}, fmt.Sprintf("unknown rule type %q (want p or g)", fields[0])
	}
}

// regexMeta are the characters a regular expression gives a meaning: in a
// wildcard route Casbin's keyMatch2 (and the index, which copies it) would
// compile them, so "/api/(users|roles)/*" or "/api/users.+/*" would match
// more than the route it reads as.
const regexMeta = `.+()|[]{}^$\`

// checkRoute validates a route pattern: absolute, no empty, "." or ".."
// segments, "*" only as a whole last segment, and in a wildcard route no
// character a regular expression reads (see regexMeta).
func checkRoute(route string) string {
	if !strings.HasPrefix(route, "/") {
		return fmt.Sprintf("route %q must start with /", route)
	}
	if strings.HasSuffix(route, "/*") {
		if i := strings.IndexAny(route, regexMeta); i >= 0 {
			return fmt.Sprintf("route %q: a wildcard route may not contain %q (it would be read as a regular expression)", route, route[i])
		}
	}
	segments := strings.Split(route[1:], "/")
	for i, s := range segments {
		switch {
		case s == "" && !(i == len(segments)-1 && len(segments) == 1):
			return fmt.Sprintf("route %q has an empty segment", route)
		case s == "." || s == "..":
			return fmt.Sprintf("route %q has a %q segment", route, s)
		case strings.Contains(s, "*") && (s != "*" || i != len(segments)-1):
			return fmt.Sprintf("route %q: * may only be the whole last segment", route)
		case strings.HasPrefix(s, ":") && len(s) == 1:
			return fmt.Sprintf("route %q has a parameter without a name", route)
		case strings.ContainsAny(s, " \t?#%"):
			return fmt.Sprintf("route %q has a character not allowed in a pattern", route)
		}
	}
	return ""
}

// FormatCSV renders rules in the CSV form ParseCSV reads, p rows then g rows,
// with a header comment when header is set.
func FormatCSV(rules []Rule, header bool) string {
	var b strings.Builder
	if header {
		b.WriteString("# Gatehouse policy: p, ROLE, ROUTE, METHOD | g, ROLE, INHERITED_ROLE\n")
	}
	for _, kind := range []string{"p", "g"} {
		for _, r := range rules {
			if r.Type == kind {
				b.WriteString(r.String())
				b.WriteByte('\n')
			}
		}
	}
	return b.String()
}
