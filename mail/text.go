package mail

import (
	"html"
	"strings"
)

// htmlToText converts the HTML of an email body to readable plain text: tags
// are dropped, paragraphs, headings, lists and <br> become line breaks, a
// link whose text differs from its href is followed by " (href)", comments,
// <script>, <style>, <head> and <title> are dropped, whitespace is collapsed
// as a browser would and entities are decoded. It is meant for
// template-authored HTML; its output is plain text and is never rendered as
// HTML.
func htmlToText(s string) string {
	type anchor struct {
		href  string
		start int
	}
	var (
		b       strings.Builder
		anchors []anchor
	)
	for i := 0; i < len(s); {
		lt := strings.IndexByte(s[i:], '<')
		if lt < 0 {
			writeText(&b, s[i:])
			break
		}
		writeText(&b, s[i:i+lt])
		i += lt
		rest := s[i:]
		switch {
		case strings.HasPrefix(rest, "<!--"):
			end := strings.Index(rest[4:], "-->")
			if end < 0 {
				return tidyText(b.String())
			}
			i += 4 + end + 3
			continue
		case strings.HasPrefix(rest, "<!"), strings.HasPrefix(rest, "<?"):
			end := strings.IndexByte(rest, '>')
			if end < 0 {
				return tidyText(b.String())
			}
			i += end + 1
			continue
		}
		tag, ok := parseTag(rest)
		if !ok {
			b.WriteByte('<')
			i++
			continue
		}
		i += tag.size
		switch tag.name {
		case "script", "style", "head", "title":
			if !tag.closing {
				end := indexFold(s[i:], "</"+tag.name)
				if end < 0 {
					return tidyText(b.String())
				}
				i += end
			}
		case "br":
			b.WriteByte('\n')
		case "p", "h1", "h2", "h3", "h4", "h5", "h6", "ul", "ol", "table", "blockquote", "hr", "pre":
			lineBreaks(&b, 2)
		case "div", "tr", "li", "dl", "dt", "dd", "section", "article", "header", "footer", "center":
			lineBreaks(&b, 1)
			if tag.name == "li" && !tag.closing {
				b.WriteString("- ")
			}
		case "td", "th":
			if out := b.String(); out != "" && !isHTMLSpace(rune(out[len(out)-1])) {
				b.WriteByte(' ')
			}
		case "a":
			if !tag.closing {
				anchors = append(anchors, anchor{href: strings.TrimSpace(tag.href), start: b.Len()})
				break
			}
			if len(anchors) == 0 {
				break
			}
			a := anchors[len(anchors)-1]
			anchors = anchors[:len(anchors)-1]
			text := strings.TrimSpace(b.String()[a.start:])
			switch {
			case a.href == "", strings.HasPrefix(a.href, "#"):
			case text == "":
				b.WriteString(a.href)
			case text != a.href && text != strings.TrimPrefix(a.href, "mailto:"):
				b.WriteString(" (" + a.href + ")")
			}
		}
	}
	return tidyText(b.String())
}

// writeText writes a run of HTML text: whitespace collapsed to one space,
// entities decoded.
func writeText(b *strings.Builder, s string) {
	if s == "" {
		return
	}
	if isHTMLSpace(rune(s[0])) {
		b.WriteByte(' ')
	}
	words := strings.FieldsFunc(s, isHTMLSpace)
	if len(words) == 0 {
		return
	}
	b.WriteString(html.UnescapeString(strings.Join(words, " ")))
	if isHTMLSpace(rune(s[len(s)-1])) {
		b.WriteByte(' ')
	}
}

// lineBreaks ends b with at least n line breaks, not counting trailing
// spaces. Explicit <br>s are written directly and always count.
func lineBreaks(b *strings.Builder, n int) {
	s := strings.TrimRight(b.String(), " \t")
	have := len(s) - len(strings.TrimRight(s, "\n"))
	for ; have < n; have++ {
		b.WriteByte('\n')
	}
}

func isHTMLSpace(r rune) bool {
	return r == ' ' || r == '\t' || r == '\n' || r == '\r' || r == '\f'
}

// tag is a parsed start or end tag.
type tag struct {
	name    string // lower case
	closing bool
	href    string // decoded href attribute, if any
	size    int    // bytes consumed, '<' to '>' inclusive
}

// parseTag parses the tag at the start of s (s[0] == '<'). ok is false when
// '<' does not start a tag (e.g. "a < b"). A tag that is never closed
// consumes the rest of s, as a browser would.
func parseTag(s string) (t tag, ok bool) {
	i := 1
	if i < len(s) && s[i] == '/' {
		t.closing = true
		i++
	}
	if i >= len(s) || !isASCIILetter(s[i]) {
		return tag{}, false
	}
	start := i
	for i < len(s) && (isASCIILetter(s[i]) || s[i] >= '0' && s[i] <= '9' || s[i] == '-') {
		i++
	}
	t.name = strings.ToLower(s[start:i])
	for i < len(s) {
		c := s[i]
		switch {
		case c == '>':
			t.size = i + 1
			return t, true
		case isHTMLSpace(rune(c)) || c == '/':
			i++
			continue
		}
		nameStart := i
		i++ // an attribute name has at least one byte, even '='
		for i < len(s) && !isHTMLSpace(rune(s[i])) && s[i] != '=' && s[i] != '>' && s[i] != '/' {
			i++
		}
		attr := strings.ToLower(s[nameStart:i])
		for i < len(s) && isHTMLSpace(rune(s[i])) {
			i++
		}
		if i >= len(s) || s[i] != '=' {
			continue
		}
		i++
		for i < len(s) && isHTMLSpace(rune(s[i])) {
			i++
		}
		var val string
		switch {
		case i < len(s) && (s[i] == '"' || s[i] == '\''):
			q := s[i]
			end := strings.IndexByte(s[i+1:], q)
			if end < 0 {
				t.size = len(s)
				return t, true
			}
			val = s[i+1 : i+1+end]
			i += end + 2
		default:
			vs := i
			for i < len(s) && !isHTMLSpace(rune(s[i])) && s[i] != '>' {
				i++
			}
			val = s[vs:i]
		}
		if attr == "href" {
			t.href = html.UnescapeString(val)
		}
	}
	t.size = len(s)
	return t, true
}

func isASCIILetter(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
}

// indexFold is strings.Index with ASCII case folding; substr must be
// lower-case ASCII.
func indexFold(s, substr string) int {
	for k := 0; k+len(substr) <= len(s); k++ {
		match := true
		for j := 0; j < len(substr); j++ {
			c := s[k+j]
			if c >= 'A' && c <= 'Z' {
				c += 'a' - 'A'
			}
			if c != substr[j] {
				match = false
				break
			}
		}
		if match {
			return k
		}
	}
	return -1
}

// tidyText trims every line and keeps at most one blank line in a row.
func tidyText(s string) string {
	lines := strings.Split(s, "\n")
	out := make([]string, 0, len(lines))
	blank := true // drops leading blank lines
	for _, l := range lines {
		l = strings.Trim(l, " \t\u00a0")
		if l == "" {
			if !blank {
				out = append(out, "")
			}
			blank = true
			continue
		}
		out = append(out, l)
		blank = false
	}
	return strings.TrimRight(strings.Join(out, "\n"), "\n")
}
