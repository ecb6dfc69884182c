package store

import (
	"context"
	"path/filepath"
	"sync"
	"testing"
)

func openSettingsTestStore(t *testing.T) *Store {
	t.Helper()
	s, err := Open("sqlite://" + filepath.Join(t.TempDir(), "settings.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	if err := s.Migrate(); err != nil {
		t.Fatal(err)
	}
	return s
}

// TestSettingsCache: the cached advanced settings and documents (present or
// absent) follow every write made through the store, and no caller can
// change the cached value through the pointers it is handed.
func TestSettingsCache(t *testing.T) {
	ctx := context.Background()
	s := openSettingsTestStore(t).Settings()

	var grant map[string]any
	if found, err := s.Get(ctx, KeyGrant, &grant); err != nil || found {
		t.Fatalf("Get(grant) on an empty table = %v, %v; want not found", found, err)
	}
	if found, _ := s.Get(ctx, KeyGrant, &grant); found { // answered from the cache
		t.Fatal("Get(grant) again: found")
	}
	if err := s.Put(ctx, KeyGrant, map[string]any{"email": map[string]bool{"enabled": false}}); err != nil {
		t.Fatal(err)
	}
	if found, err := s.Get(ctx, KeyGrant, &grant); err != nil || !found || grant["email"] == nil {
		t.Fatalf("Get(grant) after Put = %v, %v, %v; want the stored document", found, err, grant)
	}

	if adv, err := s.Advanced(ctx); err != nil || adv != DefaultAdvanced() {
		t.Fatalf("Advanced() with nothing stored = %+v, %v; want the defaults", adv, err)
	}
	url := "https://app.example/reset"
	want := DefaultAdvanced()
	want.EmailConfirmation = true
	want.EmailResetPassword = &url
	if err := s.Put(ctx, KeyAdvanced, want); err != nil {
		t.Fatal(err)
	}
	for i := range 2 {
		got, err := s.Advanced(ctx)
		if err != nil || !got.EmailConfirmation || got.EmailResetPassword == nil || *got.EmailResetPassword != url {
			t.Fatalf("Advanced() #%d after Put = %+v, %v; want email confirmation on and %s", i+1, got, err, url)
		}
		*got.EmailResetPassword = "https://evil.example/" // must not reach the cache
	}
	want.EmailConfirmation = false
	if err := s.Put(ctx, KeyAdvanced, want); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.Advanced(ctx); got.EmailConfirmation {
		t.Error("Advanced() after a second Put: still the first document")
	}

	// Reads racing writes end on the last write.
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for range 50 {
				_, _ = s.Advanced(ctx)
			}
		})
	}
	for i := range 10 {
		want.AllowRegister = i%2 == 0
		if err := s.Put(ctx, KeyAdvanced, want); err != nil {
			t.Fatal(err)
		}
	}
	wg.Wait()
	if got, _ := s.Advanced(ctx); got.AllowRegister != want.AllowRegister {
		t.Errorf("Advanced().AllowRegister = %v after the last Put of %v", got.AllowRegister, want.AllowRegister)
	}
}

// TestSettingsRevision: two stores over one file, as two instances. A write
// through one bumps the revision in its transaction and calls the OnChange
// hook with it; the other keeps its cache until ReloadIfChanged sees the
// revision move, and so for an SQL edit (the trigger); a PutIfAbsent that
// writes nothing moves nothing.
func TestSettingsRevision(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "settings.db")
	open := func() *Settings {
		s, err := Open("sqlite://" + path)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		if err := s.Migrate(); err != nil {
			t.Fatal(err)
		}
		return s.Settings()
	}
	a, b := open(), open()
	if _, _, err := b.ReloadIfChanged(ctx); err != nil {
		t.Fatal(err)
	}
	var hooked []int64
	a.OnChange(func(rev int64) { hooked = append(hooked, rev) })
	if adv, _ := b.Advanced(ctx); !adv.AllowRegister {
		t.Fatal("B: allow_register off before any write")
	}

	off := DefaultAdvanced()
	off.AllowRegister = false
	if err := a.Put(ctx, KeyAdvanced, off); err != nil {
		t.Fatal(err)
	}
	if adv, _ := b.Advanced(ctx); !adv.AllowRegister {
		t.Fatal("B dropped its cache without a check: the test proves nothing")
	}
	before, after, err := b.ReloadIfChanged(ctx)
	if err != nil || before == after {
		t.Fatalf("B.ReloadIfChanged after A's write = %d, %d, %v; want a move", before, after, err)
	}
	if len(hooked) != 1 || hooked[0] != after {
		t.Errorf("A's OnChange hook calls = %v, want [%d]", hooked, after)
	}
	if adv, _ := b.Advanced(ctx); adv.AllowRegister {
		t.Error("B: allow_register still on after the check")
	}
	if before, after, _ := b.ReloadIfChanged(ctx); before != after {
		t.Errorf("B.ReloadIfChanged with nothing written = %d, %d; want no move", before, after)
	}

	if err := a.PutIfAbsent(ctx, KeyAdvanced, DefaultAdvanced()); err != nil {
		t.Fatal(err)
	}
	if before, after, _ := b.ReloadIfChanged(ctx); before != after || len(hooked) != 1 {
		t.Errorf("PutIfAbsent over an existing document moved the revision %d → %d (hook calls %v)", before, after, hooked)
	}

	if err := a.db.Exec(`UPDATE gatehouse_settings SET value = '{"allow_register":true}' WHERE name = 'advanced'`).Error; err != nil {
		t.Fatal(err)
	}
	if before, after, _ := b.ReloadIfChanged(ctx); before == after {
		t.Error("an SQL edit did not move the revision (trigger)")
	}
	if adv, _ := b.Advanced(ctx); !adv.AllowRegister {
		t.Error("B: the SQL edit is not seen after the check")
	}
}
