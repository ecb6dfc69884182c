package store

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"
)

func TestCreateFromProvider(t *testing.T) {
	st, err := Open("sqlite://" + filepath.Join(t.TempDir(), "oauth.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	if err := st.Migrate(); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	now := time.Now().UTC()
	mk := func(username, email, provider string) *User {
		return &User{DocumentID: NewDocumentID(), Username: username, Email: email, Provider: provider,
			Confirmed: true, PublishedAt: now, TokensValidAfter: now}
	}
	if err := st.Users().Create(ctx, mk("alice", "alice@example.com", "local")); err != nil {
		t.Fatal(err)
	}
	if err := st.Users().CreateFromProvider(ctx, mk("alice-gh", "Alice@Example.com", "github"), true); !errors.Is(err, ErrEmailTaken) {
		t.Errorf("shared email refused: err = %v, want ErrEmailTaken", err)
	}
	u := mk("alice-gh", "Alice@Example.com", "github")
	if err := st.Users().CreateFromProvider(ctx, u, false); err != nil {
		t.Errorf("shared email allowed: err = %v", err)
	}
	if u.Email != "alice@example.com" {
		t.Errorf("stored email = %q, want it lower-cased", u.Email)
	}
	if err := st.Users().CreateFromProvider(ctx, mk("alice-gh2", "alice@example.com", "github"), false); !errors.Is(err, ErrConflict) {
		t.Errorf("same provider and email twice: err = %v, want ErrConflict", err)
	}
	if err := st.Users().CreateFromProvider(ctx, mk("alice", "other@example.com", "github"), false); !errors.Is(err, ErrConflict) {
		t.Errorf("taken username: err = %v, want ErrConflict", err)
	}
}
