package store

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"
)

// newTestSession stores a session of the user at now (idle 1h, absolute
// 24h) and returns its first refresh token.
func newTestSession(t *testing.T, s *Store, userID uint, deviceID string, now time.Time) (string, Session) {
	t.Helper()
	token, hash, err := NewToken()
	if err != nil {
		t.Fatal(err)
	}
	sess := Session{UserID: userID, TokenHash: hash, DeviceID: deviceID, DeviceName: "Chrome on macOS",
		LoginAt: now, IssuedAt: now, ExpiresAt: now.Add(time.Hour), AbsoluteExpiresAt: now.Add(24 * time.Hour)}
	if err := s.Sessions().Create(context.Background(), &sess); err != nil {
		t.Fatal(err)
	}
	return token, sess
}

func rotate(s *Store, token string, now time.Time) (string, Session, error) {
	next, nextHash, err := NewToken()
	if err != nil {
		return "", Session{}, err
	}
	sess, err := s.Sessions().Rotate(context.Background(), HashToken(token), nextHash, now, time.Hour, nil)
	return next, sess, err
}

func TestSessionCreateStoresOnlyTheHash(t *testing.T) {
	s, u := openTokenTestStore(t)
	now := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	token, sess := newTestSession(t, s, u.ID, "phone", now)
	if len(sess.SessionID) != 32 {
		t.Errorf("SessionID = %q, want 32 hex characters", sess.SessionID)
	}
	var n int64
	s.DB.Raw("SELECT count(*) FROM up_sessions WHERE token_hash = ? OR session_id = ? OR device_id = ? OR device_name = ?", token, token, token, token).Scan(&n)
	if n != 0 {
		t.Errorf("a column holds the refresh token itself")
	}
	got, err := s.Sessions().Active(context.Background(), HashToken(token), now.Add(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	if got.SessionID != sess.SessionID || got.UserID != u.ID || got.DeviceID != "phone" || !got.LoginAt.Equal(now) {
		t.Errorf("Active = %+v, want the created session", got)
	}
	if _, err := s.Sessions().Active(context.Background(), HashToken("not a token"), now); !errors.Is(err, ErrInvalidRefreshToken) {
		t.Errorf("Active(unknown) error = %v, want ErrInvalidRefreshToken", err)
	}
	if _, err := s.Sessions().Active(context.Background(), "short", now); !errors.Is(err, ErrInvalidRefreshToken) {
		t.Errorf("Active(malformed hash) error = %v, want ErrInvalidRefreshToken", err)
	}
}

func TestSessionRotateAndReuse(t *testing.T) {
	ctx := context.Background()
	s, u := openTokenTestStore(t)
	now := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	t1, sess := newTestSession(t, s, u.ID, "phone", now)
	other, _ := newTestSession(t, s, u.ID, "laptop", now)

	t2, rotated, err := rotate(s, t1, now.Add(10*time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	if rotated.SessionID != sess.SessionID || !rotated.IssuedAt.Equal(now.Add(10*time.Minute)) || !rotated.LoginAt.Equal(now) ||
		!rotated.ExpiresAt.Equal(now.Add(70*time.Minute)) || rotated.DeviceName != "Chrome on macOS" {
		t.Errorf("Rotate = %+v, want the same session, issued now, idle expiry now+1h, login and device kept", rotated)
	}
	if _, err := s.Sessions().Active(ctx, HashToken(t1), now.Add(11*time.Minute)); !errors.Is(err, ErrInvalidRefreshToken) {
		t.Errorf("Active(rotated token) error = %v, want ErrInvalidRefreshToken", err)
	}
	list, err := s.Sessions().List(ctx, u.ID, now.Add(11*time.Minute))
	if err != nil || len(list) != 2 || list[0].SessionID != sess.SessionID {
		t.Fatalf("List = %+v, %v; want 2 sessions, the rotated one (most recent) first", list, err)
	}

	// The replay of t1 revokes the session: t2 dies with it.
	if _, _, err := rotate(s, t1, now.Add(12*time.Minute)); !errors.Is(err, ErrRefreshTokenReused) {
		t.Fatalf("Rotate(replayed token) error = %v, want ErrRefreshTokenReused", err)
	}
	if _, _, err := rotate(s, t2, now.Add(13*time.Minute)); !errors.Is(err, ErrInvalidRefreshToken) {
		t.Errorf("Rotate(successor of a reused token) error = %v, want ErrInvalidRefreshToken", err)
	}
	// Another session of the same user is untouched.
	if _, _, err := rotate(s, other, now.Add(14*time.Minute)); err != nil {
		t.Errorf("Rotate(other session) error = %v, want nil", err)
	}
}

func TestSessionExpiry(t *testing.T) {
	s, u := openTokenTestStore(t)
	now := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)

	idle, _ := newTestSession(t, s, u.ID, "a", now)
	if _, _, err := rotate(s, idle, now.Add(time.Hour)); !errors.Is(err, ErrInvalidRefreshToken) {
		t.Errorf("Rotate at the idle expiry: error = %v, want ErrInvalidRefreshToken", err)
	}

	// Refreshing every 50 minutes keeps a session alive until its absolute
	// end, and no further; the last token's idle expiry is capped by it.
	token, _ := newTestSession(t, s, u.ID, "b", now)
	var last Session
	at := now
	for i := 0; ; i++ {
		at = at.Add(50 * time.Minute)
		next, sess, err := rotate(s, token, at)
		if errors.Is(err, ErrInvalidRefreshToken) {
			if at.Before(now.Add(24 * time.Hour)) {
				t.Fatalf("refresh %d at %s refused before the absolute end", i, at)
			}
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		token, last = next, sess
	}
	if !last.ExpiresAt.Equal(now.Add(24 * time.Hour)) {
		t.Errorf("last token's expiry = %s, want the absolute end %s", last.ExpiresAt, now.Add(24*time.Hour))
	}

	// An expired rotated token is merely invalid: it does not revoke the
	// live successor (reuse is judged only while a token could be valid).
	t1, _ := newTestSession(t, s, u.ID, "c", now)
	t2, _, err := rotate(s, t1, now.Add(50*time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := rotate(s, t1, now.Add(61*time.Minute)); !errors.Is(err, ErrInvalidRefreshToken) {
		t.Errorf("Rotate(expired rotated token) error = %v, want ErrInvalidRefreshToken", err)
	}
	if _, _, err := rotate(s, t2, now.Add(62*time.Minute)); err != nil {
		t.Errorf("Rotate(live successor) error = %v, want nil", err)
	}

	pruned, err := s.Sessions().Prune(context.Background(), now.Add(48*time.Hour))
	if err != nil || pruned == 0 {
		t.Errorf("Prune = %d, %v; want the expired rows deleted", pruned, err)
	}
	var left int64
	s.DB.Model(&Session{}).Count(&left)
	if left != 0 {
		t.Errorf("%d rows left after pruning past every expiry", left)
	}
}

func TestSessionRotateAllowRefusal(t *testing.T) {
	s, u := openTokenTestStore(t)
	now := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	token, sess := newTestSession(t, s, u.ID, "a", now)
	blocked := errors.New("blocked")
	_, nextHash, _ := NewToken()
	_, err := s.Sessions().Rotate(context.Background(), HashToken(token), nextHash, now, time.Hour, func(got Session) error {
		if got.SessionID != sess.SessionID {
			t.Errorf("allow saw %+v, want the session", got)
		}
		return blocked
	})
	if !errors.Is(err, blocked) {
		t.Fatalf("Rotate error = %v, want allow's error", err)
	}
	if _, _, err := rotate(s, token, now.Add(time.Minute)); err != nil {
		t.Errorf("after a refusal the token still rotates: error = %v", err)
	}
}

func TestSessionRevoke(t *testing.T) {
	ctx := context.Background()
	s, alice := openTokenTestStore(t)
	bob := User{DocumentID: NewDocumentID(), Username: "bob", Email: "bob@example.com", Provider: "local", Password: "x",
		PublishedAt: time.Now(), TokensValidAfter: time.Now()}
	if err := s.Users().Create(ctx, &bob); err != nil {
		t.Fatal(err)
	}
	now := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	a1, s1 := newTestSession(t, s, alice.ID, "phone", now)
	a2, _ := newTestSession(t, s, alice.ID, "phone", now)
	a3, s3 := newTestSession(t, s, alice.ID, "laptop", now)
	b1, sb := newTestSession(t, s, bob.ID, "phone", now)

	if ok, err := s.Sessions().Revoke(ctx, alice.ID, sb.SessionID, now); ok || err != nil {
		t.Errorf("Revoke(another user's session) = %v, %v; want false", ok, err)
	}
	if ok, err := s.Sessions().Revoke(ctx, alice.ID, "unknown", now); ok || err != nil {
		t.Errorf("Revoke(unknown) = %v, %v; want false", ok, err)
	}
	if ok, err := s.Sessions().Revoke(ctx, alice.ID, s1.SessionID, now); !ok || err != nil {
		t.Errorf("Revoke(own session) = %v, %v; want true", ok, err)
	}
	if ok, _ := s.Sessions().Revoke(ctx, alice.ID, s1.SessionID, now); ok {
		t.Errorf("Revoke twice reported the session live again")
	}
	live := func(token string) bool {
		_, err := s.Sessions().Active(ctx, HashToken(token), now)
		return err == nil
	}
	if live(a1) || !live(a2) || !live(a3) || !live(b1) {
		t.Errorf("after Revoke: live a1=%v a2=%v a3=%v b1=%v, want false true true true", live(a1), live(a2), live(a3), live(b1))
	}
	if n, err := s.Sessions().RevokeDevice(ctx, alice.ID, "phone"); n != 1 || err != nil {
		t.Errorf("RevokeDevice = %d, %v; want 1", n, err)
	}
	if live(a2) || !live(a3) || !live(b1) {
		t.Errorf("after RevokeDevice: live a2=%v a3=%v b1=%v, want false true true", live(a2), live(a3), live(b1))
	}
	list, _ := s.Sessions().List(ctx, alice.ID, now)
	if len(list) != 1 || list[0].SessionID != s3.SessionID {
		t.Errorf("List = %+v, want only the laptop session", list)
	}
	if _, err := s.Sessions().RevokeAll(ctx, alice.ID); err != nil {
		t.Fatal(err)
	}
	if live(a3) || !live(b1) {
		t.Errorf("after RevokeAll: live a3=%v b1=%v, want false true", live(a3), live(b1))
	}
	// Deleting a user deletes their sessions.
	if err := s.Users().Delete(ctx, bob.ID); err != nil {
		t.Fatal(err)
	}
	if live(b1) {
		t.Errorf("a deleted user's session is still live")
	}
}

// TestSessionConcurrentRotation: of many concurrent refreshes of one token
// against real SQLite, exactly one succeeds; the others presented a token
// already rotated, so the session ends (the winner's new token included).
func TestSessionConcurrentRotation(t *testing.T) {
	s, u := openTokenTestStore(t)
	now := time.Now().UTC()
	token, _ := newTestSession(t, s, u.ID, "a", now)
	other, _ := newTestSession(t, s, u.ID, "b", now)
	const n = 16
	var (
		wg      sync.WaitGroup
		start   = make(chan struct{})
		mu      sync.Mutex
		winners []string
		errs    []error
	)
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			next, _, err := rotate(s, token, now.Add(time.Second))
			mu.Lock()
			defer mu.Unlock()
			if err == nil {
				winners = append(winners, next)
			} else {
				errs = append(errs, err)
			}
		}()
	}
	close(start)
	wg.Wait()
	if len(winners) != 1 {
		t.Fatalf("%d of %d concurrent refreshes succeeded, want exactly 1 (errors: %v)", len(winners), n, errs)
	}
	for _, err := range errs {
		if !errors.Is(err, ErrRefreshTokenReused) && !errors.Is(err, ErrInvalidRefreshToken) {
			t.Errorf("a losing refresh failed with %v, want ErrRefreshTokenReused or ErrInvalidRefreshToken", err)
		}
	}
	if _, _, err := rotate(s, winners[0], now.Add(2*time.Second)); !errors.Is(err, ErrInvalidRefreshToken) {
		t.Errorf("the winner's token after the losers' reuse: error = %v, want ErrInvalidRefreshToken (session revoked)", err)
	}
	if _, _, err := rotate(s, other, now.Add(2*time.Second)); err != nil {
		t.Errorf("another session of the user: error = %v, want nil", err)
	}
}
