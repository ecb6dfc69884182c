package handlers

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"sort"
	"strings"
	"unicode"

	"github.com/gatehouse/gatehouse/policy"
	"github.com/gatehouse/gatehouse/store"
	"github.com/gin-gonic/gin"
	"golang.org/x/text/unicode/norm"
	"gorm.io/gorm"
)

var (
	errRoleNotFound = NotFoundError("Role not found")
	errEmptyBody    = ValidationError("Request body cannot be empty", nil)
)

// roleListItem is a role with its user count and inherited roles.
type roleListItem struct {
	*roleView
	NbUsers  int64    `json:"nb_users"`
	Inherits []string `json:"inherits"`
}

// findRoles is GET /api/users-permissions/roles: {roles:[…]} sorted by name.
func (s *Server) findRoles(c *gin.Context) error {
	roles, err := s.rolesWithCounts(ctx(c))
	if err != nil {
		return err
	}
	return writeJSON(c, http.StatusOK, gin.H{"roles": roles})
}

// rolesWithCounts lists the roles sorted by name with their user counts and
// inherited roles.
func (s *Server) rolesWithCounts(ctx context.Context) ([]roleListItem, error) {
	roles, err := s.store.Roles().List(ctx)
	if err != nil {
		return nil, err
	}
	counts, err := s.store.Users().CountByRole(ctx)
	if err != nil {
		return nil, err
	}
	inherits, err := s.inheritance()
	if err != nil {
		return nil, err
	}
	out := make([]roleListItem, len(roles))
	for i, r := range roles {
		out[i] = roleListItem{roleView: newRoleView(r), NbUsers: counts[r.ID], Inherits: nonNil(inherits[r.Type])}
	}
	return out, nil
}

// findRole is GET /api/users-permissions/roles/:id: {role:{…, permissions}}.
func (s *Server) findRole(c *gin.Context) error {
	role, err := s.roleByParam(c)
	if err != nil {
		return err
	}
	perms, err := s.enforcer.PermissionsOf(role.Type, s.Catalog())
	if err != nil {
		return err
	}
	inherits, err := s.inheritance()
	if err != nil {
		return err
	}
	counts, err := s.store.Users().CountByRole(ctx(c))
	if err != nil {
		return err
	}
	return writeJSON(c, http.StatusOK, gin.H{"role": struct {
		roleListItem
		Permissions policy.Permissions `json:"permissions"`
	}{roleListItem{roleView: newRoleView(role), NbUsers: counts[role.ID], Inherits: nonNil(inherits[role.Type])}, perms}})
}

// roleBody is the body of POST and PUT …/roles.
type roleBody struct {
	Name        *string
	Description *string
	Type        *string
	Permissions *policy.Permissions
	Inherits    *[]string
}

var roleTypePattern = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,63}$`)

// readRoleBody decodes and validates a role body; creating requires a name.
func readRoleBody(c *gin.Context, creating bool) (roleBody, error) {
	b, err := readBody(c)
	if err != nil {
		return roleBody{}, err
	}
	if len(b) == 0 {
		return roleBody{}, errEmptyBody
	}
	var v validator
	var rb roleBody
	if name, ok := v.str(b, "name"); ok {
		rb.Name = &name
		if n := len([]rune(strings.TrimSpace(name))); n < 3 || n > 255 {
			v.add("name", "name must be at least 3 characters and at most 255", name)
		}
	} else if creating && !v.failed("name") {
		v.add("name", "name is a required field", nil)
	}
	if d, ok := v.str(b, "description"); ok {
		if len(d) > 1024 {
			v.add("description", "description must be at most 1024 characters", nil)
		}
		rb.Description = &d
	}
	if t, ok := v.str(b, "type"); ok {
		if !roleTypePattern.MatchString(t) {
			v.add("type", "type must be 1–64 lower-case letters, digits, - or _", t)
		}
		rb.Type = &t
	}
	if raw, ok := b["permissions"]; ok && string(raw) != "null" {
		var perms policy.Permissions
		var list []json.RawMessage
		switch {
		case json.Unmarshal(raw, &list) == nil && len(list) == 0:
			// Strapi's tests send permissions: [] for "none".
			perms = policy.Permissions{}
			rb.Permissions = &perms
		case json.Unmarshal(raw, &perms) == nil:
			rb.Permissions = &perms
		default:
			v.add("permissions", "permissions must be an object {<type>: {controllers: {<controller>: {<action>: {enabled}}}}}", nil)
		}
	}
	if raw, ok := b["inherits"]; ok && string(raw) != "null" {
		var inherits []string
		if err := json.Unmarshal(raw, &inherits); err != nil {
			v.add("inherits", "inherits must be an array of role types", nil)
		}
		rb.Inherits = &inherits
	}
	return rb, v.err()
}

// createRole is POST /api/users-permissions/roles → {ok:true}.
func (s *Server) createRole(c *gin.Context) error {
	rb, err := readRoleBody(c, true)
	if err != nil {
		return err
	}
	role := store.Role{Name: strings.TrimSpace(*rb.Name)}
	if rb.Description != nil {
		role.Description = *rb.Description
	}
	if rb.Type != nil {
		role.Type = *rb.Type
	}
	if _, err := s.createRoleWithRules(s.changeCtx(c, ""), role, rb); err != nil {
		return err
	}
	return writeJSON(c, http.StatusOK, gin.H{"ok": true})
}

// CreateRole creates a role with no rules; the type is derived from the
// name (Strapi's snake case) when empty.
func (s *Server) CreateRole(ctx context.Context, name, roleType, description string) (store.Role, error) {
	if n := len([]rune(strings.TrimSpace(name))); n < 3 || n > 255 {
		return store.Role{}, ValidationError("name must be at least 3 characters and at most 255", nil)
	}
	if roleType != "" && !roleTypePattern.MatchString(roleType) {
		return store.Role{}, ValidationError("type must be 1–64 lower-case letters, digits, - or _", nil)
	}
	role := store.Role{Name: strings.TrimSpace(name), Type: roleType, Description: description}
	return s.createRoleWithRules(ctx, role, roleBody{})
}

// createRoleWithRules stores the role and the rules its body asks for in one
// transaction.
func (s *Server) createRoleWithRules(ctx context.Context, role store.Role, rb roleBody) (store.Role, error) {
	role.PublishedAt = s.now().UTC()
	if role.Type == "" {
		role.Type = roleTypeFromName(role.Name)
	}
	if !roleTypePattern.MatchString(role.Type) {
		return role, ValidationError("Cannot derive a role type from this name: give a type", nil)
	}
	taken := ApplicationError(fmt.Sprintf("A role of type %q already exists", role.Type))
	if _, err := s.store.Roles().ByType(ctx, role.Type); err == nil {
		return role, taken
	} else if !errors.Is(err, store.ErrNotFound) {
		return role, err
	}
	add, remove, err := s.planRoleRules(ctx, role.Type, rb)
	if err != nil {
		return role, err
	}
	err = s.enforcer.Update(ctx, add, remove, func(tx *gorm.DB) error {
		return s.store.Roles().WithTx(tx).Create(ctx, &role)
	})
	if errors.Is(err, store.ErrConflict) {
		return role, taken
	}
	if err == nil {
		s.Audit(ctx, "role.create", "role:"+role.Type, map[string]any{"name": role.Name, "type": role.Type, "rulesAdded": len(add)})
	}
	return role, err
}

// updateRole is PUT /api/users-permissions/roles/:id: name and description,
// the permissions map and inherited roles; the type never changes.
func (s *Server) updateRole(c *gin.Context) error {
	role, err := s.roleByParam(c)
	if err != nil {
		return err
	}
	rb, err := readRoleBody(c, false)
	if err != nil {
		return err
	}
	columns := map[string]any{"updated_at": s.now().UTC()}
	if rb.Name != nil {
		columns["name"] = strings.TrimSpace(*rb.Name)
	}
	if rb.Description != nil {
		columns["description"] = *rb.Description
	}
	add, remove, err := s.planRoleRules(ctx(c), role.Type, rb)
	if err != nil {
		return err
	}
	changeCtx := s.changeCtx(c, "")
	err = s.enforcer.Update(changeCtx, add, remove, func(tx *gorm.DB) error {
		return s.store.Roles().WithTx(tx).Update(ctx(c), role.ID, columns)
	})
	if err != nil {
		return err
	}
	summary := reveal(columns, "name", "description")
	summary["changed"], summary["rulesAdded"], summary["rulesRemoved"] = changedKeys(columns), len(add), len(remove)
	s.Audit(changeCtx, "role.update", "role:"+role.Type, summary)
	return writeJSON(c, http.StatusOK, gin.H{"ok": true})
}

// deleteRole is DELETE /api/users-permissions/roles/:id.
func (s *Server) deleteRole(c *gin.Context) error {
	role, err := s.roleByParam(c)
	if err != nil {
		return err
	}
	if err := s.DeleteRole(s.changeCtx(c, ""), role); err != nil {
		return err
	}
	return writeJSON(c, http.StatusOK, gin.H{"ok": true})
}

// DeleteRole deletes a role: its users move to the default role and its
// rules go, in one transaction. The system roles cannot be deleted: public
// (Strapi's rule), authenticated (which Strapi's admin panel offers no way
// to delete either), admin (Gatehouse's administrators: deleting it locked
// every administrator out) and the default role.
func (s *Server) DeleteRole(ctx context.Context, role store.Role) error {
	switch role.Type {
	case PublicRole:
		return ApplicationError("Cannot delete public role")
	case AuthenticatedRole:
		return ApplicationError("Cannot delete authenticated role")
	case AdminRole:
		return ApplicationError("Cannot delete admin role")
	}
	adv, err := s.store.Settings().Advanced(ctx)
	if err != nil {
		return err
	}
	if role.Type == adv.DefaultRole {
		return ApplicationError("Cannot delete the default role: choose another default role first")
	}
	fallback, err := s.store.Roles().ByType(ctx, adv.DefaultRole)
	if errors.Is(err, store.ErrNotFound) {
		return ApplicationError("Impossible to find the default role")
	}
	if err != nil {
		return err
	}
	err = s.enforcer.RemoveRole(ctx, role.Type, func(tx *gorm.DB) error {
		return s.store.Roles().WithTx(tx).DeleteMovingUsers(ctx, role.ID, fallback.ID)
	})
	s.store.InvalidateCache()
	if err == nil {
		s.Audit(ctx, "role.delete", "role:"+role.Type, map[string]any{"name": role.Name, "usersMovedTo": fallback.Type})
	}
	return err
}

// roleByParam loads the role named by :id (numeric).
func (s *Server) roleByParam(c *gin.Context) (store.Role, error) {
	id, ok := parseID(c.Param("id"))
	if !ok {
		return store.Role{}, errRoleNotFound
	}
	role, err := s.store.Roles().ByID(ctx(c), id)
	if errors.Is(err, store.ErrNotFound) {
		return store.Role{}, errRoleNotFound
	}
	return role, err
}

// planRoleRules turns a role body's permissions map and inherited roles into
// the rules to add and remove (Strapi's diff: actions enabled in the map get
// an exact row; actions not enabled lose theirs). An action that would stay
// enabled through a wildcard row or an inherited role is refused, naming the
// rule, rather than silently kept.
func (s *Server) planRoleRules(ctx context.Context, roleType string, rb roleBody) (add, remove []policy.Rule, err error) {
	current, err := s.enforcer.Rules()
	if err != nil {
		return nil, nil, err
	}
	exact := map[string]bool{}
	for _, r := range current {
		if r.Values[0] == roleType {
			exact[r.String()] = true
		}
	}
	if rb.Inherits != nil {
		types, err := s.store.Roles().Types(ctx)
		if err != nil {
			return nil, nil, err
		}
		want := map[string]bool{}
		for _, t := range *rb.Inherits {
			if !contains(types, t) {
				return nil, nil, ValidationError(fmt.Sprintf("inherits: role %q does not exist", t), nil)
			}
			if t == roleType {
				return nil, nil, ValidationError("inherits: a role cannot inherit itself", nil)
			}
			want[t] = true
			if r := (policy.Rule{Type: "g", Values: []string{roleType, t}}); !exact[r.String()] {
				add = append(add, r)
			}
		}
		for _, r := range current {
			if r.Type == "g" && r.Values[0] == roleType && !want[r.Values[1]] {
				remove = append(remove, r)
			}
		}
	}
	var enabled map[string]bool
	catalog := s.Catalog()
	if rb.Permissions != nil {
		enabled = rb.Permissions.Enabled()
		for name := range enabled {
			if _, ok := catalog.ByName(name); !ok {
				return nil, nil, ValidationError("Unknown permission "+name, nil)
			}
		}
		for _, fn := range catalog {
			row := policy.Rule{Type: "p", Values: []string{roleType, fn.Route, fn.Method}}
			switch {
			case enabled[fn.Name] && !exact[row.String()]:
				// Already allowed through a wildcard or an inherited role:
				// no redundant row.
				if allowed, err := s.enforcer.Allow(roleType, fn.Route, fn.Method); err != nil {
					return nil, nil, err
				} else if !allowed {
					add = append(add, row)
				}
			case !enabled[fn.Name] && exact[row.String()]:
				remove = append(remove, row)
			}
		}
	}
	next := applyRules(current, add, remove)
	if cycle := policy.FindCycle(next); cycle != nil {
		return nil, nil, ValidationError("Role inheritance cycle: "+strings.Join(cycle, " → "), gin.H{"cycle": cycle})
	}
	if rb.Permissions != nil {
		disabled := rb.Permissions.Disabled()
		simulated, err := s.enforcer.WithRules(next)
		if err != nil {
			return nil, nil, err
		}
		for _, fn := range catalog {
			if !disabled[fn.Name] || enabled[fn.Name] {
				continue
			}
			ex, err := simulated.Explain(roleType, fn.Route, fn.Method)
			if err != nil {
				return nil, nil, err
			}
			if ex.Allowed {
				return nil, nil, ValidationError(fmt.Sprintf("%s stays enabled through the rule %q (roles %s): change that rule in the policy",
					fn.Name, ex.MatchedRule, strings.Join(ex.RoleChain, ", ")), gin.H{"function": fn.Name, "rule": ex.MatchedRule})
			}
		}
	}
	return add, remove, nil
}

// applyRules returns current minus remove plus add.
func applyRules(current, add, remove []policy.Rule) []policy.Rule {
	gone := map[string]bool{}
	for _, r := range remove {
		gone[r.String()] = true
	}
	var out []policy.Rule
	for _, r := range current {
		if !gone[r.String()] {
			out = append(out, r)
		}
	}
	return append(out, add...)
}

// inheritance maps each role type to the roles it inherits directly.
func (s *Server) inheritance() (map[string][]string, error) {
	rules, err := s.enforcer.Rules()
	if err != nil {
		return nil, err
	}
	out := map[string][]string{}
	for _, r := range rules {
		if r.Type == "g" {
			out[r.Values[0]] = append(out[r.Values[0]], r.Values[1])
		}
	}
	for _, v := range out {
		sort.Strings(v)
	}
	return out, nil
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// roleTypeFromName is Strapi's snakeCase(deburr(toLower(name))).
func roleTypeFromName(name string) string {
	var b strings.Builder
	prevUnderscore := true
	for _, r := range norm.NFD.String(strings.ToLower(name)) {
		switch {
		case unicode.Is(unicode.Mn, r):
		case r < unicode.MaxASCII && (unicode.IsLetter(r) || unicode.IsDigit(r)):
			b.WriteRune(r)
			prevUnderscore = false
		default:
			if !prevUnderscore {
				b.WriteByte('_')
				prevUnderscore = true
			}
		}
	}
	return strings.TrimSuffix(b.String(), "_")
}
