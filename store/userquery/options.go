package userquery

import (
	"strconv"
	"strings"
)

// ---- sort, fields, populate, pagination ------------------------------------

func parseSort(n *qsNode, sch *entity) ([]SortField, error) {
	var out []SortField
	seen := make(map[string]bool)
	add := func(segs []string, dir string) error {
		field := strings.Join(segs, ".")
		if _, a, err := resolveField(sch, field); err != nil {
			return err
		} else if !a.kind.sortable() {
			return queryErrorf("Invalid sort: %s (%s) cannot be sorted", field, a.kind)
		}
		var desc bool
		switch strings.ToLower(strings.TrimSpace(dir)) {
		case "", "asc":
		case "desc":
			desc = true
		default:
			return queryErrorf("Invalid sort: direction of %s must be asc or desc, received %s", field, quoteInput(dir))
		}
		if !seen[field] {
			seen[field] = true
			out = append(out, SortField{Field: field, Desc: desc})
		}
		return nil
	}
	var list func(n *qsNode) error
	var object func(key string, n *qsNode, prefix []string) error
	list = func(n *qsNode) error {
		for _, v := range n.vals {
			for _, token := range strings.Split(v, ",") {
				token = strings.TrimSpace(token)
				if token == "" {
					continue
				}
				field, dir, _ := strings.Cut(token, ":")
				field = strings.TrimSpace(field)
				if field == "" {
					return queryErrorf("Invalid sort: %s has no field", quoteInput(token))
				}
				if err := add(strings.Split(field, "."), dir); err != nil {
					return err
				}
			}
		}
		for _, k := range n.sortedKeys() {
			var err error
			if isIndex(k) {
				err = list(n.kids[k])
			} else {
				err = object(k, n.kids[k], nil)
			}
			if err != nil {
				return err
			}
		}
		return nil
	}
	object = func(key string, n *qsNode, prefix []string) error {
		segs := append(append([]string(nil), prefix...), key)
		if len(n.vals) > 0 && !n.leaf() {
			return queryErrorf("Invalid sort: %s mixes a direction and nested keys", strings.Join(segs, "."))
		}
		if n.leaf() {
			if len(n.vals) != 1 {
				return queryErrorf("Invalid sort: %s expects one direction", strings.Join(segs, "."))
			}
			return add(segs, n.vals[0])
		}
		for _, k := range n.sortedKeys() {
			if err := object(k, n.kids[k], segs); err != nil {
				return err
			}
		}
		return nil
	}
	if err := list(n); err != nil {
		return nil, err
	}
	return out, nil
}

// parseFields reads fields=a,b or fields[0]=a: scalar attributes of sch. "*"
// (or nothing) means all of them, returned as nil.
func parseFields(n *qsNode, sch *entity, path []string) ([]string, error) {
	var out []string
	seen := make(map[string]bool)
	all := false
	var walk func(n *qsNode) error
	walk = func(n *qsNode) error {
		for _, v := range n.vals {
			for _, token := range strings.Split(v, ",") {
				token = strings.TrimSpace(token)
				switch {
				case token == "":
					continue
				case token == "*":
					all = true
					continue
				}
				if a, ok := sch.attrs[token]; !ok || a.rel != nil {
					return invalidKey(token, path, nil, nil)
				}
				if !seen[token] {
					seen[token] = true
					out = append(out, token)
				}
			}
		}
		for _, k := range n.sortedKeys() {
			if !isIndex(k) {
				return invalidKey(k, path, nil, n.kids[k])
			}
			if err := walk(n.kids[k]); err != nil {
				return err
			}
		}
		return nil
	}
	if err := walk(n); err != nil {
		return nil, err
	}
	if all {
		return nil, nil
	}
	return out, nil
}

// populateSpec is what populate asks of one relation.
type populateSpec struct {
	fields  []string
	filters Filter
}

// populate reads populate=role, populate=*, populate[0]=role,
// populate[role]=true and populate[role][fields|filters|sort|populate]. Every
// mentioned attribute is validated; only the relations of sch end up in
// specs. The role's own relation (users) is validated and then dropped by the
// caller: it is never loaded.
func (p *queryParser) populate(n *qsNode, sch *entity, path []string, depth int, specs map[string]*populateSpec) error {
	if depth > maxFilterDepth {
		return queryErrorf("Invalid populate: nesting deeper than %d levels", maxFilterDepth)
	}
	ensure := func(name string) *populateSpec {
		if specs[name] == nil {
			specs[name] = &populateSpec{}
		}
		return specs[name]
	}
	for _, v := range n.vals {
		for _, token := range strings.Split(v, ",") {
			token = strings.TrimSpace(token)
			switch {
			case token == "":
				continue
			case token == "*":
				for name := range sch.populate {
					ensure(name)
				}
				continue
			}
			segs := strings.Split(token, ".")
			rel, ok := sch.populate[segs[0]]
			if !ok {
				return invalidKey(segs[0], path, segs[1:], nil)
			}
			ensure(segs[0])
			if len(segs) > 1 {
				nested := &qsNode{vals: []string{strings.Join(segs[1:], ".")}}
				sub := append(append([]string(nil), path...), segs[0])
				if err := p.populate(nested, rel, sub, depth+1, make(map[string]*populateSpec)); err != nil {
					return err
				}
			}
		}
	}
	for _, key := range n.sortedKeys() {
		child := n.kids[key]
		if isIndex(key) {
			if err := p.populate(child, sch, path, depth+1, specs); err != nil {
				return err
			}
			continue
		}
		rel, ok := sch.populate[key]
		if !ok {
			return invalidKey(key, path, nil, child)
		}
		sub := append(append([]string(nil), path...), key)
		if child.leaf() {
			if len(child.vals) != 1 {
				return queryErrorf("Invalid populate: %s expects true, false or an object", strings.Join(sub, "."))
			}
			switch strings.ToLower(child.vals[0]) {
			case "true", "1", "*":
				ensure(key)
			case "false", "0":
				delete(specs, key)
			default:
				return queryErrorf("Invalid populate: %s expects true, false or an object", strings.Join(sub, "."))
			}
			continue
		}
		if len(child.vals) > 0 {
			return queryErrorf("Invalid populate: %s mixes a value and nested keys", strings.Join(sub, "."))
		}
		if err := p.populateOptions(child, rel, sub, depth+1, ensure(key)); err != nil {
			return err
		}
	}
	return nil
}

func (p *queryParser) populateOptions(n *qsNode, sch *entity, path []string, depth int, spec *populateSpec) error {
	for _, key := range n.sortedKeys() {
		child := n.kids[key]
		switch key {
		case "populate":
			// Validated, never loaded: role.users stays unpopulated.
			if err := p.populate(child, sch, path, depth+1, make(map[string]*populateSpec)); err != nil {
				return err
			}
		case "fields":
			fields, err := parseFields(child, sch, path)
			if err != nil {
				return err
			}
			spec.fields = fields
		case "filters":
			if child.leaf() {
				return queryErrorf("Invalid populate: %s.filters expects an object", strings.Join(path, "."))
			}
			fs, err := p.object(child, sch, path, "", nil, 0)
			if err != nil {
				return err
			}
			spec.filters = allOf(append(nonEmptyFilter(spec.filters), fs...))
		case "sort":
			// Validated; ordering a to-one relation has no effect.
			if _, err := parseSort(child, sch); err != nil {
				return err
			}
		default:
			return invalidKey(key, path, nil, child)
		}
	}
	return nil
}

func nonEmptyFilter(f Filter) []Filter {
	if f.Op == "" {
		return nil
	}
	return []Filter{f}
}

// parsePagination reads pagination[page|pageSize|start|limit|withCount] and
// the top-level page, pageSize, start and limit.
func parsePagination(roots map[string]*qsNode) (offset, limit int, err error) {
	raw := make(map[string]string)
	set := func(key string, n *qsNode) error {
		if !n.leaf() || len(n.vals) != 1 {
			return queryErrorf("Invalid '%s' parameter. Expected a single value", key)
		}
		if _, dup := raw[key]; dup {
			return queryErrorf("Invalid '%s' parameter. Expected a single value", key)
		}
		raw[key] = n.vals[0]
		return nil
	}
	if n := roots["pagination"]; n != nil {
		if len(n.vals) > 0 {
			return 0, 0, queryErrorf("Invalid pagination parameters. Expected an object")
		}
		for _, key := range n.sortedKeys() {
			switch key {
			case "page", "pageSize", "start", "limit":
				if err := set(key, n.kids[key]); err != nil {
					return 0, 0, err
				}
			case "withCount":
				c := n.kids[key]
				if !c.leaf() || len(c.vals) != 1 {
					return 0, 0, queryErrorf("Invalid 'withCount' parameter. Expected true or false")
				}
				if _, err := parseQueryBool(c.vals[0]); err != nil {
					return 0, 0, queryErrorf("Invalid 'withCount' parameter. Expected true or false")
				}
			default:
				return 0, 0, queryErrorf("Invalid pagination parameter %s", quoteInput(key))
			}
		}
	}
	for _, key := range []string{"page", "pageSize", "start", "limit"} {
		if n := roots[key]; n != nil {
			if err := set(key, n); err != nil {
				return 0, 0, err
			}
		}
	}
	_, hasPage := raw["page"]
	_, hasPageSize := raw["pageSize"]
	_, hasStart := raw["start"]
	_, hasLimit := raw["limit"]
	if (hasPage || hasPageSize) && (hasStart || hasLimit) {
		return 0, 0, queryErrorf("Invalid pagination parameters. Expected either start/limit or page/pageSize")
	}
	integer := func(key string) (int64, bool) {
		i, err := strconv.ParseInt(raw[key], 10, 64)
		return i, err == nil
	}
	switch {
	case hasPage || hasPageSize:
		page, pageSize := int64(1), int64(DefaultPageSize)
		if hasPage {
			var ok bool
			if page, ok = integer("page"); !ok || page < 1 {
				return 0, 0, queryErrorf("Invalid 'page' parameter. Expected an integer > 0, received: %s", quoteInput(raw["page"]))
			}
		}
		if hasPageSize {
			var ok bool
			if pageSize, ok = integer("pageSize"); !ok || pageSize < 1 || pageSize > MaxLimit {
				return 0, 0, queryErrorf("Invalid 'pageSize' parameter. Expected an integer between 1 and %d, received: %s", MaxLimit, quoteInput(raw["pageSize"]))
			}
		}
		if page-1 > maxQueryOffset/pageSize {
			return 0, 0, queryErrorf("Invalid 'page' parameter. Expected an integer > 0, received: %s (too large)", quoteInput(raw["page"]))
		}
		return int((page - 1) * pageSize), int(pageSize), nil
	case hasStart || hasLimit:
		start, lim := int64(0), int64(MaxLimit)
		if hasStart {
			var ok bool
			if start, ok = integer("start"); !ok || start < 0 || start > maxQueryOffset {
				return 0, 0, queryErrorf("Invalid 'start' parameter. Expected an integer >= 0, received: %s", quoteInput(raw["start"]))
			}
		}
		if hasLimit {
			var ok bool
			if lim, ok = integer("limit"); !ok || lim == 0 || lim < -1 || lim > MaxLimit {
				return 0, 0, queryErrorf("Invalid 'limit' parameter. Expected -1 or an integer between 1 and %d, received: %s", MaxLimit, quoteInput(raw["limit"]))
			}
			if lim == -1 {
				lim = MaxLimit
			}
		}
		return int(start), int(lim), nil
	}
	return 0, MaxLimit, nil
}
