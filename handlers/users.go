package handlers

import (
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"strings"

	"github.com/gatehouse/gatehouse/store"
	"github.com/gin-gonic/gin"
)

// me is GET /api/users/me: the caller, with populate and fields applied.
func (s *Server) me(c *gin.Context) error {
	caller, ok := CurrentUser(c)
	if !ok {
		return UnauthorizedError("Unauthorized")
	}
	q, err := s.store.QuerySchema().Parse(c.Request.URL.Query())
	if err != nil {
		return err
	}
	return writeJSON(c, http.StatusOK, project(*caller, q.PopulateRole, q.Fields))
}

// findUsers is GET /api/users: a bare array, as Strapi answers.
func (s *Server) findUsers(c *gin.Context) error {
	q, err := s.store.QuerySchema().Parse(c.Request.URL.Query())
	if err != nil {
		return err
	}
	users, err := s.store.Users().Find(ctx(c), q)
	if err != nil {
		return err
	}
	out := make([]any, len(users))
	for i, u := range users {
		out[i] = project(u, q.PopulateRole, q.Fields)
	}
	return writeJSON(c, http.StatusOK, out)
}

// countUsers is GET /api/users/count: a bare number.
func (s *Server) countUsers(c *gin.Context) error {
	q, err := s.store.QuerySchema().Parse(c.Request.URL.Query())
	if err != nil {
		return err
	}
	n, err := s.store.Users().Count(ctx(c), q)
	if err != nil {
		return err
	}
	return writeJSON(c, http.StatusOK, n)
}

// findUser is GET /api/users/:id. An unknown (or non-numeric) id answers
// 204 with no body, Strapi's documented quirk.
func (s *Server) findUser(c *gin.Context) error {
	q, err := s.store.QuerySchema().Parse(c.Request.URL.Query())
	if err != nil {
		return err
	}
	user, found, err := s.userByParam(c)
	if !found || err != nil {
		return err
	}
	return writeJSON(c, http.StatusOK, project(user, q.PopulateRole, q.Fields))
}

// createUser is POST /api/users: 201 with the role populated.
func (s *Server) createUser(c *gin.Context) error {
	b, err := readBody(c)
	if err != nil {
		return err
	}
	var v validator
	email, username, password := v.credentials(b)
	confirmed, _ := v.boolean(b, "confirmed")
	blocked, _ := v.boolean(b, "blocked")
	if err := v.err(); err != nil {
		return err
	}
	custom, err := s.customFields(c, b, &v, true, 0)
	if err != nil {
		return err
	}
	if err := checkUserLengths(username, email, password); err != nil {
		return err
	}
	adv, err := s.store.Settings().Advanced(ctx(c))
	if err != nil {
		return err
	}
	role, err := s.roleFromBody(c, b, adv.DefaultRole)
	if err != nil {
		return err
	}
	email = strings.ToLower(email)
	if adv.UniqueEmail {
		if taken, err := s.store.Users().Exists(ctx(c), "email", email, 0); err != nil {
			return err
		} else if taken {
			return ApplicationError("Email already taken")
		}
	}
	// Strapi lets an exact duplicate username reach the database's unique
	// check ("This attribute must be unique"); the identifiers name the
	// other collisions (other capitals, another user's email).
	if taken, err := s.store.Users().Exists(ctx(c), "username", username, 0); err != nil {
		return err
	} else if taken {
		return asError(store.ErrConflict)
	}
	if err := s.identifiersFree(c, 0, username, email); err != nil {
		return err
	}
	hash, err := s.hashPassword(password)
	if err != nil {
		return err
	}
	now := s.now().UTC()
	user := store.User{DocumentID: store.NewDocumentID(), Username: username, Email: email, Provider: "local",
		Password: hash, Confirmed: confirmed, Blocked: blocked, RoleID: &role.ID, PublishedAt: now, TokensValidAfter: now,
		Custom: custom}
	if err := s.store.Users().Create(ctx(c), &user); err != nil {
		return err
	}
	s.Audit(s.changeCtx(c, ""), "user.create", "user:"+strconv.FormatUint(uint64(user.ID), 10),
		map[string]any{"username": username, "email": email, "role": role.Type, "blocked": blocked, "confirmed": confirmed})
	user.Role = &role
	return writeJSON(c, http.StatusCreated, userJSON(user, true))
}

// updateUser is PUT /api/users/:id (spec §2.10). Unknown keys are ignored.
func (s *Server) updateUser(c *gin.Context) error {
	id, ok := parseID(c.Param("id"))
	if !ok {
		return NotFoundError("User not found")
	}
	user, err := s.store.Users().ByID(ctx(c), id)
	if errors.Is(err, store.ErrNotFound) {
		return NotFoundError("User not found")
	}
	if err != nil {
		return err
	}
	b, err := readBody(c)
	if err != nil {
		return err
	}
	var v validator
	columns := map[string]any{}
	if email, present := v.str(b, "email"); present {
		if !validEmail(email) {
			v.add("email", "email must be a valid email", email)
		}
		columns["email"] = strings.ToLower(email)
	}
	if username, present := v.str(b, "username"); present {
		if username == "" {
			v.add("username", "username must be at least 1 characters", username)
		}
		columns["username"] = username
	}
	if _, present := b["password"]; present {
		password, _ := v.str(b, "password")
		switch {
		case v.failed("password"):
		case password == "" && user.Provider == "local":
			v.add("password", "password.notNull", nil)
		case password != "":
			v.checkPasswordLength("password", password)
			if !v.failed("password") {
				columns["password"] = password
			}
		}
	}
	for _, field := range []string{"confirmed", "blocked"} {
		if value, present := v.boolean(b, field); present {
			columns[field] = value
		}
	}
	if err := v.err(); err != nil {
		return err
	}
	custom, err := s.customFields(c, b, &v, false, id)
	if err != nil {
		return err
	}
	s.customColumns(custom, columns)
	if _, present := b["role"]; present {
		role, err := s.roleFromBody(c, b, "")
		if err != nil {
			return err
		}
		columns["role_id"] = role.ID
	}
	newUsername, _ := columns["username"].(string)
	newEmail, _ := columns["email"].(string)
	if user.Provider != "local" {
		newEmail = "" // only local users' emails are identifiers
	}
	if err := s.identifiersFree(c, id, newUsername, newEmail); err != nil {
		return err
	}
	if email, ok := columns["email"].(string); ok {
		adv, err := s.store.Settings().Advanced(ctx(c))
		if err != nil {
			return err
		}
		if taken, err := s.store.Users().Exists(ctx(c), "email", email, id); err != nil {
			return err
		} else if taken && adv.UniqueEmail {
			return ApplicationError("Email already taken")
		}
	}
	if password, ok := columns["password"].(string); ok {
		hash, err := s.hashPassword(password)
		if err != nil {
			return err
		}
		columns["password"] = hash
		// A new password revokes every token issued before it.
		columns["tokens_valid_after"] = s.now().UTC()
	}
	if len(columns) > 0 {
		columns["updated_at"] = s.now().UTC()
		if err := s.store.Users().Update(ctx(c), id, columns); err != nil {
			return err
		}
		s.userAudit(c, id, columns)
	}
	updated, err := s.store.Users().ByID(ctx(c), id)
	if err != nil {
		return err
	}
	return writeJSON(c, http.StatusOK, userJSON(updated, false))
}

// identifiersFree refuses a username or email ("" when unchanged) that
// another user than id holds as an identifier — its username or its email,
// compared case-insensitively (store/identifiers.go) — with Strapi's
// messages. The store's write refuses it anyway; this names the field.
func (s *Server) identifiersFree(c *gin.Context, id uint, username, email string) error {
	for _, f := range []struct{ value, message string }{
		{username, "Username already taken"}, {email, "Email already taken"},
	} {
		if f.value == "" {
			continue
		}
		owner, found, err := s.store.Users().IdentifierOwner(ctx(c), f.value)
		if err != nil {
			return err
		}
		if found && owner != id {
			return ApplicationError(f.message)
		}
	}
	return nil
}

// deleteUser is DELETE /api/users/:id: 200 with the deleted user; 204 when unknown.
func (s *Server) deleteUser(c *gin.Context) error {
	user, found, err := s.userByParam(c)
	if !found || err != nil {
		return err
	}
	if err := s.store.Users().Delete(ctx(c), user.ID); err != nil && !errors.Is(err, store.ErrNotFound) {
		return err
	}
	s.Audit(s.changeCtx(c, ""), "user.delete", "user:"+strconv.FormatUint(uint64(user.ID), 10), map[string]any{"username": user.Username, "email": user.Email})
	return writeJSON(c, http.StatusOK, userJSON(user, false))
}

// userByParam loads the user named by :id. An unknown or non-numeric id
// answers 204 with no body (Strapi's quirk) and reports found = false.
func (s *Server) userByParam(c *gin.Context) (user store.User, found bool, err error) {
	id, ok := parseID(c.Param("id"))
	if ok {
		user, err = s.store.Users().ByID(ctx(c), id)
	}
	if !ok || errors.Is(err, store.ErrNotFound) {
		c.Status(http.StatusNoContent)
		return user, false, nil
	}
	return user, err == nil, err
}

// roleFromBody resolves body.role: a numeric id, a documentId, or
// {connect:[{id|documentId}], disconnect:[…]}. Absent: the role of type
// fallback (when fallback is "", absence is an error).
func (s *Server) roleFromBody(c *gin.Context, b body, fallback string) (store.Role, error) {
	raw, present := b["role"]
	if !present || string(raw) == "null" {
		if fallback == "" {
			return store.Role{}, ValidationError("Users must have a role", nil)
		}
		role, err := s.store.Roles().ByType(ctx(c), fallback)
		if errors.Is(err, store.ErrNotFound) {
			return store.Role{}, ApplicationError("Impossible to find the default role")
		}
		return role, err
	}
	ref, err := parseRoleRef(raw)
	if err != nil {
		return store.Role{}, err
	}
	var role store.Role
	if ref.id != 0 {
		role, err = s.store.Roles().ByID(ctx(c), ref.id)
	} else {
		role, err = s.store.Roles().ByDocumentID(ctx(c), ref.documentID)
	}
	if errors.Is(err, store.ErrNotFound) {
		return store.Role{}, ValidationError("Role not found", gin.H{"role": json.RawMessage(raw)})
	}
	return role, err
}

type roleRef struct {
	id         uint
	documentID string
}

func parseRoleRef(raw json.RawMessage) (roleRef, error) {
	var scalar any
	if err := json.Unmarshal(raw, &scalar); err != nil {
		return roleRef{}, ValidationError("Invalid role", nil)
	}
	switch x := scalar.(type) {
	case float64:
		if x < 1 || x != float64(uint32(x)) {
			return roleRef{}, ValidationError("Invalid role", nil)
		}
		return roleRef{id: uint(x)}, nil
	case string:
		if id, ok := parseID(x); ok {
			return roleRef{id: id}, nil
		}
		if x == "" || len(x) > 64 {
			return roleRef{}, ValidationError("Invalid role", nil)
		}
		return roleRef{documentID: x}, nil
	case map[string]any:
		var rel struct {
			Connect    []json.RawMessage `json:"connect"`
			Disconnect []json.RawMessage `json:"disconnect"`
			Set        []json.RawMessage `json:"set"`
		}
		if err := json.Unmarshal(raw, &rel); err != nil {
			return roleRef{}, ValidationError("Invalid role", nil)
		}
		entries := rel.Connect
		if len(rel.Set) > 0 {
			entries = rel.Set
		}
		if len(entries) == 0 {
			if len(rel.Disconnect) > 0 {
				return roleRef{}, ValidationError("Cannot remove role", nil)
			}
			return roleRef{}, ValidationError("Users must have a role", nil)
		}
		var entry struct {
			ID         json.RawMessage `json:"id"`
			DocumentID string          `json:"documentId"`
		}
		last := entries[len(entries)-1]
		if json.Unmarshal(last, &entry) != nil || (len(entry.ID) == 0 && entry.DocumentID == "") {
			if ref, err := parseRoleRef(last); err == nil {
				return ref, nil
			}
			return roleRef{}, ValidationError("Relation entry must include an id or documentId", nil)
		}
		if len(entry.ID) > 0 {
			return parseRoleRef(entry.ID)
		}
		return parseRoleRef(json.RawMessage(strconv.Quote(entry.DocumentID)))
	}
	return roleRef{}, ValidationError("Invalid role", nil)
}

// parseID accepts a positive decimal id.
func parseID(s string) (uint, bool) {
	if s == "" || len(s) > 10 || strings.TrimLeft(s, "0123456789") != "" {
		return 0, false
	}
	n, err := strconv.ParseUint(s, 10, 32)
	if err != nil || n == 0 {
		return 0, false
	}
	return uint(n), true
}

// boolean reads an optional boolean field.
func (v *validator) boolean(b body, field string) (value, present bool) {
	raw, ok := b[field]
	if !ok || string(raw) == "null" {
		return false, false
	}
	if err := json.Unmarshal(raw, &value); err != nil {
		v.add(field, field+" must be a `boolean` type, but the final value was: `"+yupValue(raw)+"`.", json.RawMessage(raw))
		return false, false
	}
	return value, true
}

// project keeps only the asked fields (plus id, documentId and a populated
// role) of a user; no fields means all.
func project(user store.User, withRole bool, fields []string) any {
	u := userJSON(user, withRole)
	if len(fields) == 0 {
		return u
	}
	raw, _ := json.Marshal(u)
	var all map[string]json.RawMessage
	_ = json.Unmarshal(raw, &all)
	out := map[string]json.RawMessage{"id": all["id"], "documentId": all["documentId"]}
	for _, f := range fields {
		if v, ok := all[f]; ok {
			out[f] = v
		}
	}
	if r, ok := all["role"]; ok {
		out["role"] = r
	}
	return out
}
