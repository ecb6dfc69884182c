package store

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"path/filepath"
	"regexp"
	"sync"
	"testing"
	"time"
)

// openTokenTestStore is a migrated SQLite store with one local user.
func openTokenTestStore(t testing.TB) (*Store, User) {
	t.Helper()
	s, err := Open("sqlite://" + filepath.Join(t.TempDir(), "tokens.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	if err := s.Migrate(); err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC()
	u := User{DocumentID: NewDocumentID(), Username: "alice", Email: "alice@example.com", Provider: "local",
		Password: "x", PublishedAt: now, TokensValidAfter: now}
	if err := s.Users().Create(context.Background(), &u); err != nil {
		t.Fatal(err)
	}
	return s, u
}

func TestNewToken(t *testing.T) {
	seen := map[string]bool{}
	hexToken := regexp.MustCompile(`^[0-9a-f]{64}$`)
	for i := 0; i < 100; i++ {
		token, hash, err := NewToken()
		if err != nil {
			t.Fatal(err)
		}
		if !hexToken.MatchString(token) {
			t.Fatalf("NewToken() token = %q, want 64 hex characters (32 random bytes)", token)
		}
		sum := sha256.Sum256([]byte(token))
		if want := hex.EncodeToString(sum[:]); hash != want || HashToken(token) != want {
			t.Fatalf("NewToken() hash = %q, want the hex SHA-256 %q", hash, want)
		}
		if hash == token {
			t.Fatal("NewToken() hash equals the token")
		}
		if seen[token] {
			t.Fatalf("NewToken() repeated %q", token)
		}
		seen[token] = true
	}
}

func TestTokenLifecycle(t *testing.T) {
	ctx := context.Background()
	s, u := openTokenTestStore(t)
	users := s.Users()
	now := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	token, hash, _ := NewToken()

	expires, err := users.IssueToken(ctx, ResetToken, u.ID, hash, now, time.Hour, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if !expires.Equal(now.Add(time.Hour)) {
		t.Errorf("IssueToken expiry = %s, want %s", expires, now.Add(time.Hour))
	}
	stored, err := users.ByID(ctx, u.ID)
	if err != nil {
		t.Fatal(err)
	}
	if stored.ResetPasswordToken == nil || *stored.ResetPasswordToken != hash {
		t.Fatalf("stored reset token = %v, want the hash %s", stored.ResetPasswordToken, hash)
	}
	if *stored.ResetPasswordToken == token {
		t.Fatal("the token itself is stored")
	}
	if stored.ConfirmationToken != nil {
		t.Errorf("issuing a reset token set the confirmation token")
	}

	if _, err := users.ByToken(ctx, ResetToken, HashToken(token), now.Add(59*time.Minute)); err != nil {
		t.Errorf("ByToken before expiry: %v", err)
	}
	if _, err := users.ByToken(ctx, ConfirmationToken, hash, now); !errors.Is(err, ErrInvalidToken) {
		t.Errorf("ByToken of the other kind: err = %v, want ErrInvalidToken", err)
	}
	if _, err := users.ByToken(ctx, ResetToken, hash, now.Add(time.Hour)); !errors.Is(err, ErrInvalidToken) {
		t.Errorf("ByToken at expiry: err = %v, want ErrInvalidToken", err)
	}
	if _, err := users.ByToken(ctx, ResetToken, token, now); !errors.Is(err, ErrInvalidToken) {
		t.Errorf("ByToken with the token instead of its hash: err = %v, want ErrInvalidToken", err)
	}
	if _, err := users.ConsumeToken(ctx, ResetToken, hash, now.Add(2*time.Hour), map[string]any{"password": "y"}); !errors.Is(err, ErrInvalidToken) {
		t.Errorf("ConsumeToken after expiry: err = %v, want ErrInvalidToken", err)
	}

	// A new token replaces the old one.
	token2, hash2, _ := NewToken()
	later := now.Add(2 * time.Minute)
	if _, err := users.IssueToken(ctx, ResetToken, u.ID, hash2, later, time.Hour, time.Minute); err != nil {
		t.Fatal(err)
	}
	if _, err := users.ByToken(ctx, ResetToken, hash, later); !errors.Is(err, ErrInvalidToken) {
		t.Errorf("the replaced token: err = %v, want ErrInvalidToken", err)
	}

	got, err := users.ConsumeToken(ctx, ResetToken, HashToken(token2), later, map[string]any{"password": "new-hash"})
	if err != nil {
		t.Fatal(err)
	}
	if got.Password != "new-hash" || got.ResetPasswordToken != nil || got.ResetTokenExpiresAt != nil {
		t.Errorf("after ConsumeToken: password %q, token %v, expiry %v; want new-hash, nil, nil", got.Password, got.ResetPasswordToken, got.ResetTokenExpiresAt)
	}
	if _, err := users.ConsumeToken(ctx, ResetToken, hash2, later, nil); !errors.Is(err, ErrInvalidToken) {
		t.Errorf("second ConsumeToken: err = %v, want ErrInvalidToken", err)
	}
}

func TestIssueTokenResendLimit(t *testing.T) {
	ctx := context.Background()
	s, u := openTokenTestStore(t)
	users := s.Users()
	now := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	issue := func(at time.Time, ttl time.Duration) (string, time.Time, error) {
		_, hash, _ := NewToken()
		exp, err := users.IssueToken(ctx, ConfirmationToken, u.ID, hash, at, ttl, time.Minute)
		return hash, exp, err
	}
	first, firstExp, err := issue(now, 24*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := issue(now.Add(59*time.Second), 24*time.Hour); !errors.Is(err, ErrTooSoon) {
		t.Fatalf("issue after 59s: err = %v, want ErrTooSoon", err)
	}
	if _, err := users.ByToken(ctx, ConfirmationToken, first, now.Add(time.Minute)); err != nil {
		t.Errorf("a refused issue changed the current token: %v", err)
	}
	// The other kind has its own limit.
	_, rh, _ := NewToken()
	if _, err := users.IssueToken(ctx, ResetToken, u.ID, rh, now.Add(time.Second), time.Hour, time.Minute); err != nil {
		t.Errorf("reset token right after a confirmation token: %v", err)
	}
	// Moving the expiry back by the interval (a failed delivery) lifts the limit.
	if err := users.SetTokenExpiry(ctx, ConfirmationToken, u.ID, first, firstExp.Add(-time.Minute)); err != nil {
		t.Fatal(err)
	}
	if err := users.SetTokenExpiry(ctx, ConfirmationToken, u.ID, "0000", firstExp); !errors.Is(err, ErrInvalidToken) {
		t.Errorf("SetTokenExpiry with a stale hash: err = %v, want ErrInvalidToken", err)
	}
	second, _, err := issue(now.Add(time.Second), 24*time.Hour)
	if err != nil {
		t.Fatalf("issue after a rewound expiry: %v", err)
	}
	if _, _, err := issue(now.Add(time.Minute), 24*time.Hour); !errors.Is(err, ErrTooSoon) {
		t.Errorf("issue 59s after the second: err = %v, want ErrTooSoon", err)
	}
	if _, _, err := issue(now.Add(61*time.Second), 24*time.Hour); err != nil {
		t.Errorf("issue 60s after the second: %v", err)
	}
	_ = second
	// A TTL lowered since the last issue makes the derived issue time lie in
	// the future: that never blocks.
	if _, _, err := issue(now.Add(62*time.Second), time.Hour); err != nil {
		t.Errorf("issue after the TTL was lowered: %v", err)
	}
	// A used token no longer limits anything.
	_, hash, _ := NewToken()
	at := now.Add(200 * time.Second)
	if _, err := users.IssueToken(ctx, ConfirmationToken, u.ID, hash, at, time.Hour, time.Minute); err != nil {
		t.Fatal(err)
	}
	if _, err := users.ConsumeToken(ctx, ConfirmationToken, hash, at, map[string]any{"confirmed": true}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := issue(at.Add(time.Second), time.Hour); err != nil {
		t.Errorf("issue right after the token was used: %v", err)
	}
	if _, err := users.IssueToken(ctx, ResetToken, 9999, hash, at, time.Hour, 0); !errors.Is(err, ErrNotFound) {
		t.Errorf("IssueToken for an unknown user: err = %v, want ErrNotFound", err)
	}
}

// TestTokenRaces: of many concurrent uses of one token exactly one wins, and
// of many concurrent issues under the resend limit exactly one passes.
func TestTokenRaces(t *testing.T) {
	ctx := context.Background()
	s, u := openTokenTestStore(t)
	users := s.Users()
	now := time.Now().UTC()
	const n = 16
	race := func(f func(i int) error) (ok int) {
		var wg sync.WaitGroup
		var mu sync.Mutex
		start := make(chan struct{})
		for i := 0; i < n; i++ {
			wg.Add(1)
			go func(i int) {
				defer wg.Done()
				<-start
				if f(i) == nil {
					mu.Lock()
					ok++
					mu.Unlock()
				}
			}(i)
		}
		close(start)
		wg.Wait()
		return ok
	}

	_, hash, _ := NewToken()
	if _, err := users.IssueToken(ctx, ResetToken, u.ID, hash, now, time.Hour, 0); err != nil {
		t.Fatal(err)
	}
	if ok := race(func(int) error {
		_, err := users.ConsumeToken(ctx, ResetToken, hash, now, map[string]any{"password": "p"})
		return err
	}); ok != 1 {
		t.Errorf("%d concurrent ConsumeToken calls succeeded, want 1", ok)
	}

	if ok := race(func(int) error {
		_, h, _ := NewToken()
		_, err := users.IssueToken(ctx, ConfirmationToken, u.ID, h, now, time.Hour, time.Minute)
		return err
	}); ok != 1 {
		t.Errorf("%d concurrent IssueToken calls passed the resend limit, want 1", ok)
	}
}

// TestTokenWritesDropTheAuthCache: a consumed token's column changes (a
// password reset's tokens_valid_after) are seen by ForAuth at once.
func TestTokenWritesDropTheAuthCache(t *testing.T) {
	ctx := context.Background()
	s, u := openTokenTestStore(t)
	users := s.Users()
	if _, err := users.ForAuth(ctx, u.ID); err != nil { // cache it
		t.Fatal(err)
	}
	now := time.Now().UTC()
	_, hash, _ := NewToken()
	if _, err := users.IssueToken(ctx, ResetToken, u.ID, hash, now, time.Hour, 0); err != nil {
		t.Fatal(err)
	}
	after := now.Add(time.Hour).Truncate(time.Second)
	if _, err := users.ConsumeToken(ctx, ResetToken, hash, now, map[string]any{"tokens_valid_after": after}); err != nil {
		t.Fatal(err)
	}
	got, err := users.ForAuth(ctx, u.ID)
	if err != nil {
		t.Fatal(err)
	}
	if !got.TokensValidAfter.Equal(after) {
		t.Errorf("ForAuth TokensValidAfter = %s, want %s (stale cache)", got.TokensValidAfter, after)
	}
}

func FuzzHashTokenLookup(f *testing.F) {
	s, u := openTokenTestStore(f)
	token, hash, _ := NewToken()
	now := time.Now().UTC()
	if _, err := s.Users().IssueToken(context.Background(), ResetToken, u.ID, hash, now, time.Hour, 0); err != nil {
		f.Fatal(err)
	}
	f.Add("")
	f.Add(hash)
	f.Add(token[:63])
	f.Add("' OR 1=1 --")
	f.Fuzz(func(t *testing.T, code string) {
		user, err := s.Users().ByToken(context.Background(), ResetToken, HashToken(code), now)
		if code == token {
			if err != nil || user.ID != u.ID {
				t.Fatalf("ByToken(the token) = %d, %v", user.ID, err)
			}
			return
		}
		if !errors.Is(err, ErrInvalidToken) {
			t.Fatalf("ByToken(HashToken(%q)) = %d, %v; want ErrInvalidToken", code, user.ID, err)
		}
	})
}
