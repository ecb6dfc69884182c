package store

import (
	"context"
	"testing"
	"time"
)

// TestForAuthMatchesByID: the cached read for authentication (user row plus
// the role from the cache of roles) answers what ByID's join answers, and
// follows writes to users and roles made through the store.
func TestForAuthMatchesByID(t *testing.T) {
	ctx := context.Background()
	s := openSettingsTestStore(t)
	if _, err := s.Bootstrap(ctx); err != nil {
		t.Fatal(err)
	}
	role, err := s.Roles().ByType(ctx, "authenticated")
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC().Truncate(time.Millisecond)
	u := User{DocumentID: NewDocumentID(), Username: "alice", Email: "alice@example.com", Provider: "local",
		Confirmed: true, RoleID: &role.ID, PublishedAt: now, TokensValidAfter: now}
	if err := s.Users().Create(ctx, &u); err != nil {
		t.Fatal(err)
	}
	bare := User{DocumentID: NewDocumentID(), Username: "bob", Email: "bob@example.com", Provider: "local", PublishedAt: now}
	if err := s.Users().Create(ctx, &bare); err != nil {
		t.Fatal(err)
	}

	for _, id := range []uint{u.ID, bare.ID} {
		want, err := s.Users().ByID(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		for i := range 2 { // a miss, then a hit
			got, err := s.Users().ForAuth(ctx, id)
			if err != nil {
				t.Fatalf("ForAuth(%d) #%d: %v", id, i+1, err)
			}
			if got.Username != want.Username || (got.Role == nil) != (want.Role == nil) ||
				(got.Role != nil && *got.Role != *want.Role) {
				t.Errorf("ForAuth(%d) #%d = %+v role %+v, want %+v role %+v", id, i+1, got, got.Role, want, want.Role)
			}
		}
	}
	if _, err := s.Users().ForAuth(ctx, 999); err != ErrNotFound {
		t.Errorf("ForAuth(999) error = %v, want ErrNotFound", err)
	}

	// A user write drops the entry.
	if err := s.Users().Update(ctx, u.ID, map[string]any{"blocked": true}); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.Users().ForAuth(ctx, u.ID); !got.Blocked {
		t.Error("ForAuth after blocking: not blocked")
	}
	// A role write followed by InvalidateCache (as the roles API does) is seen.
	if err := s.Roles().Update(ctx, role.ID, map[string]any{"type": "member"}); err != nil {
		t.Fatal(err)
	}
	s.InvalidateCache()
	if got, _ := s.Users().ForAuth(ctx, u.ID); got.Role == nil || got.Role.Type != "member" {
		t.Errorf("ForAuth after a role change: role %+v, want type member", got.Role)
	}
	// The cached user is a copy: changing it changes nothing cached.
	got, _ := s.Users().ForAuth(ctx, u.ID)
	got.Role.Type = "admin"
	if again, _ := s.Users().ForAuth(ctx, u.ID); again.Role.Type != "member" {
		t.Errorf("cached role changed through a returned copy: %q", again.Role.Type)
	}
}
