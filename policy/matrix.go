package policy

import (
	"bufio"
	"encoding/csv"
	"encoding/xml"
	"fmt"
	"io"
	"strings"
	"time"
)

// MatrixRow is one expected decision of a permission matrix: role, method,
// path (a concrete path such as /api/users/5, or a route pattern) and
// whether it must be allowed.
type MatrixRow struct {
	Line   int
	Role   string
	Method string
	Path   string
	Allow  bool
}

func (r MatrixRow) String() string {
	return fmt.Sprintf("%s %s %s → %s", r.Role, r.Method, r.Path, word(r.Allow))
}

// ParseMatrix reads a matrix in CSV: "role,method,path,expect" with expect
// allow or deny; "#" comment lines, blank lines and a header line are skipped.
func ParseMatrix(text string) ([]MatrixRow, error) {
	var rows []MatrixRow
	scanner := bufio.NewScanner(strings.NewReader(text))
	line := 0
	for scanner.Scan() {
		line++
		raw := strings.TrimSpace(scanner.Text())
		if raw == "" || strings.HasPrefix(raw, "#") {
			continue
		}
		r := csv.NewReader(strings.NewReader(raw))
		r.TrimLeadingSpace = true
		fields, err := r.Read()
		if err != nil {
			return nil, &LineError{Line: line, Text: raw, Err: "not CSV: " + err.Error()}
		}
		for i := range fields {
			fields[i] = strings.TrimSpace(fields[i])
		}
		if len(fields) != 4 {
			return nil, &LineError{Line: line, Text: raw, Err: "want role,method,path,expect"}
		}
		if strings.EqualFold(fields[0], "role") && strings.EqualFold(fields[3], "expect") {
			continue
		}
		var allow bool
		switch strings.ToLower(fields[3]) {
		case "allow":
			allow = true
		case "deny":
		default:
			return nil, &LineError{Line: line, Text: raw, Err: fmt.Sprintf("expect is %q, want allow or deny", fields[3])}
		}
		if fields[0] == "" || !strings.HasPrefix(fields[2], "/") {
			return nil, &LineError{Line: line, Text: raw, Err: "want a role and a path starting with /"}
		}
		rows = append(rows, MatrixRow{Line: line, Role: fields[0], Method: strings.ToUpper(fields[1]), Path: fields[2], Allow: allow})
	}
	return rows, scanner.Err()
}

// MatrixResult is a row's outcome.
type MatrixResult struct {
	Row      MatrixRow
	Got      bool
	Function string
	Route    string
	// Problem is why the row failed ("" when it passed).
	Problem string
}

// Passed reports whether the row got what it expected.
func (r MatrixResult) Passed() bool { return r.Problem == "" }

// RunMatrix decides every row. A concrete path is resolved to its route
// pattern through the catalogue (a path that matches no route fails); with
// an empty catalogue the path is taken as a route pattern.
func RunMatrix(e *Enforcer, catalog Catalog, rows []MatrixRow) []MatrixResult {
	results := make([]MatrixResult, len(rows))
	for i, row := range rows {
		res := MatrixResult{Row: row, Route: row.Path}
		if len(catalog) > 0 {
			fn, ok := catalog.Lookup(row.Method, row.Path)
			if !ok {
				res.Problem = "no route matches " + row.Method + " " + row.Path
				results[i] = res
				continue
			}
			res.Function, res.Route = fn.Name, fn.Route
		}
		got, err := e.Allow(row.Role, res.Route, row.Method)
		res.Got = got
		switch {
		case err != nil:
			res.Problem = err.Error()
		case got != row.Allow:
			res.Problem = fmt.Sprintf("got %s, want %s", word(got), word(row.Allow))
		}
		results[i] = res
	}
	return results
}

// Summary counts passed and failed results.
func Summary(results []MatrixResult) (passed, failed int) {
	for _, r := range results {
		if r.Passed() {
			passed++
		} else {
			failed++
		}
	}
	return passed, failed
}

type junitSuite struct {
	XMLName  xml.Name    `xml:"testsuite"`
	Name     string      `xml:"name,attr"`
	Tests    int         `xml:"tests,attr"`
	Failures int         `xml:"failures,attr"`
	Time     string      `xml:"time,attr"`
	Cases    []junitCase `xml:"testcase"`
}

type junitCase struct {
	Name      string        `xml:"name,attr"`
	Classname string        `xml:"classname,attr"`
	Failure   *junitFailure `xml:"failure,omitempty"`
}

type junitFailure struct {
	Message string `xml:"message,attr"`
	Text    string `xml:",chardata"`
}

// WriteJUnit writes the results as a JUnit XML test suite.
func WriteJUnit(w io.Writer, name string, results []MatrixResult, elapsed time.Duration) error {
	suite := junitSuite{Name: name, Tests: len(results), Time: fmt.Sprintf("%.3f", elapsed.Seconds())}
	for _, r := range results {
		c := junitCase{Name: fmt.Sprintf("line %d: %s", r.Row.Line, r.Row), Classname: name + "." + r.Row.Role}
		if !r.Passed() {
			suite.Failures++
			c.Failure = &junitFailure{Message: r.Problem, Text: r.Problem}
		}
		suite.Cases = append(suite.Cases, c)
	}
	if _, err := io.WriteString(w, xml.Header); err != nil {
		return err
	}
	enc := xml.NewEncoder(w)
	enc.Indent("", "  ")
	if err := enc.Encode(suite); err != nil {
		return err
	}
	_, err := io.WriteString(w, "\n")
	return err
}
