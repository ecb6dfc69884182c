package store

import (
	"context"
	"fmt"
)

// DefaultRoles are the roles an empty database starts with: Strapi's Public
// and Authenticated, and Gatehouse's Admin.
func DefaultRoles() []Role {
	return []Role{
		{Name: "Authenticated", Description: "Default role given to authenticated user.", Type: "authenticated"},
		{Name: "Public", Description: "Default role given to unauthenticated user.", Type: "public"},
		{Name: "Admin", Description: "Manages users, roles and permissions.", Type: "admin"},
	}
}

// Bootstrap fills an empty database: the default roles when no role exists
// (created reports it), and Strapi's default advanced settings when none are
// stored. It changes nothing in a database that has them.
func (s *Store) Bootstrap(ctx context.Context) (created bool, err error) {
	n, err := s.Roles().Count(ctx)
	if err != nil {
		return false, err
	}
	if n == 0 {
		now := s.Now()
		for _, r := range DefaultRoles() {
			r.PublishedAt = now
			if err := s.Roles().Create(ctx, &r); err != nil {
				return false, fmt.Errorf("store: bootstrap role %s: %w", r.Type, err)
			}
		}
		created = true
	}
	return created, s.Settings().PutIfAbsent(ctx, KeyAdvanced, DefaultAdvanced())
}
