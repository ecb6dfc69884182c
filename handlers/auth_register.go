package handlers

import (
	"errors"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/gatehouse/gatehouse/store"
	"github.com/gin-gonic/gin"
)

// registerKeys are the only keys register accepts (Strapi v5 with
// register.allowedFields unset; USER_FIELDS_FILE's register.allowedFields
// adds custom fields): anything else is refused, so nobody sets
// confirmed, blocked, role or provider on themselves (CVE-2023-39345).
var registerKeys = []string{"username", "email", "password"}

// register is POST /api/auth/local/register (spec §2.2).
func (s *Server) register(c *gin.Context) error {
	adv, err := s.store.Settings().Advanced(ctx(c))
	if err != nil {
		return err
	}
	if !adv.AllowRegister {
		return ApplicationError("Register action is currently disabled")
	}
	b, err := readBody(c)
	if err != nil {
		return err
	}
	allowed := append(slices.Clip(registerKeys), s.store.UserFields().Register.AllowedFields...)
	if unknown := b.unknownKeys(allowed...); len(unknown) > 0 {
		return ValidationError("Invalid parameters: "+strings.Join(unknown, ", "), nil)
	}
	var v validator
	email, username, password := v.credentials(b)
	if err := v.err(); err != nil {
		return err
	}
	custom, err := s.customFields(c, b, &v, true, 0)
	if err != nil {
		return err
	}
	role, err := s.store.Roles().ByType(ctx(c), adv.DefaultRole)
	if errors.Is(err, store.ErrNotFound) {
		return ApplicationError("Impossible to find the default role")
	}
	if err != nil {
		return err
	}
	if err := checkUserLengths(username, email, password); err != nil {
		return err
	}
	hash, err := s.hashPassword(password)
	if err != nil {
		return err
	}
	now := s.now().UTC()
	user := store.User{
		DocumentID: store.NewDocumentID(), Username: username, Email: strings.ToLower(email), Provider: "local",
		Password: hash, Confirmed: !adv.EmailConfirmation, RoleID: &role.ID, PublishedAt: now, TokensValidAfter: now,
		Custom: custom,
	}
	if err := s.store.Users().Register(ctx(c), &user, adv.UniqueEmail); err != nil {
		if errors.Is(err, store.ErrTaken) {
			return ApplicationError("Email or Username are already taken")
		}
		return err
	}
	if adv.EmailConfirmation {
		return s.afterRegisterWithConfirmation(c, user)
	}
	return s.respondWithToken(c, user)
}

// checkUserLengths applies the user schema's minimum lengths (spec §3),
// counted in characters as JavaScript would count them for BMP text.
func checkUserLengths(username, email, password string) error {
	var v validator
	if utf8.RuneCountInString(username) < 3 {
		v.add("username", "username must be at least 3 characters", nil)
	}
	if utf8.RuneCountInString(email) < 6 {
		v.add("email", "email must be at least 6 characters", nil)
	}
	if password != "" && utf8.RuneCountInString(password) < 6 {
		v.add("password", "password must be at least 6 characters", nil)
	}
	return v.err()
}
