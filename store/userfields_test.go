package store

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/gatehouse/gatehouse/userfields"
)

// TestMigrateUserFields checks the custom columns' migration on every
// database: added once (a second Migrate changes nothing), unique enforced
// by the index, lifted and restored, a column whose type no longer suits
// its declaration refused at start.
func TestMigrateUserFields(t *testing.T) {
	for _, b := range []struct {
		name string
		open func(t *testing.T) *Store
	}{
		{"sqlite", func(t *testing.T) *Store { return openQueryTestSQLite(t) }},
		{"postgres", func(t *testing.T) *Store { return openQueryTestPostgres(t) }},
		{"mysql", func(t *testing.T) *Store { return openQueryTestMySQL(t) }},
	} {
		t.Run(b.name, func(t *testing.T) {
			s := b.open(t)
			ctx := context.Background()
			use := func(yaml string) error {
				t.Helper()
				cfg, err := userfields.Parse([]byte(yaml))
				if err != nil {
					t.Fatal(err)
				}
				if err := s.useFields(cfg); err != nil {
					t.Fatal(err)
				}
				return s.Migrate()
			}
			const v1 = "fields: [{name: age, type: integer}, {name: badge, type: string, unique: true}, {name: note, type: text}]"
			if err := use(v1); err != nil {
				t.Fatalf("Migrate v1: %v", err)
			}
			if err := use(v1); err != nil {
				t.Fatalf("Migrate v1 again: %v", err)
			}
			if s.Dialect == SQLite {
				// A filter on a custom field uses its index.
				var plan []struct {
					Detail string
				}
				if err := s.DB.Raw("EXPLAIN QUERY PLAN SELECT id FROM up_users WHERE cf_age >= ?", 3).Scan(&plan).Error; err != nil {
					t.Fatal(err)
				}
				if len(plan) == 0 || !strings.Contains(plan[0].Detail, "idx_up_users_cf_age") {
					t.Errorf("query plan of a filter on age = %+v, want idx_up_users_cf_age", plan)
				}
			}
			users := s.Users()
			for _, name := range []string{"ann", "bob"} {
				u := User{DocumentID: NewDocumentID(), Username: name, Email: name + "@example.com", Provider: "local",
					Custom: map[string]any{"badge": "b-" + name, "age": int64(len(name))}}
				if err := users.Create(ctx, &u); err != nil {
					t.Fatalf("Create %s: %v", name, err)
				}
				if u.Custom["badge"] != "b-"+name {
					t.Errorf("Create %s: Custom = %v", name, u.Custom)
				}
			}
			// A default applies to every create, here one without values.
			if err := use("fields: [{name: age, type: integer}, {name: badge, type: string, unique: true}, {name: note, type: text}, {name: plan, type: enumeration, values: [free, pro], default: free}]"); err != nil {
				t.Fatalf("Migrate with plan: %v", err)
			}
			users = s.Users()
			cyd := User{DocumentID: NewDocumentID(), Username: "cyd", Email: "cyd@example.com", Provider: "github"}
			if err := users.Create(ctx, &cyd); err != nil || cyd.Custom["plan"] != "free" {
				t.Fatalf("Create without custom values: %v, Custom = %v; want plan free", err, cyd.Custom)
			}
			dee := User{DocumentID: NewDocumentID(), Username: "dee", Email: "dee@example.com", Provider: "google"}
			if err := users.CreateFromProvider(ctx, &dee, false); err != nil || dee.Custom["plan"] != "free" {
				t.Fatalf("CreateFromProvider: %v, Custom = %v; want plan free", err, dee.Custom)
			}
			if got, err := users.LocalByUsername(ctx, "ann"); err != nil || got.Custom["badge"] != "b-ann" {
				t.Errorf("LocalByUsername(ann): Custom = %v, %v; want badge b-ann", got.Custom, err)
			}
			if got, err := users.ByID(ctx, cyd.ID); err != nil || got.Custom["plan"] != "free" || got.Custom["badge"] != nil {
				t.Errorf("ByID(cyd): Custom = %v, %v; want plan free, badge nil", got.Custom, err)
			}
			err := users.Update(ctx, 2, map[string]any{"cf_badge": "b-ann"})
			if !errors.Is(err, ErrConflict) {
				t.Errorf("Update to another's unique badge: %v, want ErrConflict", err)
			}
			if err := use("fields: [{name: age, type: integer}, {name: badge, type: string}, {name: note, type: text}]"); err != nil {
				t.Fatalf("Migrate, unique lifted: %v", err)
			}
			if err := s.Users().Update(ctx, 2, map[string]any{"cf_badge": "b-ann"}); err != nil {
				t.Errorf("Update to a shared badge once unique is lifted: %v", err)
			}
			if err := use(v1); err == nil || !strings.Contains(err.Error(), "cannot be unique") {
				t.Errorf("Migrate, unique over shared values: %v, want an error", err)
			}
			err = use("fields: [{name: age, type: string}]")
			if err == nil || !strings.Contains(err.Error(), "not a string") {
				t.Errorf("Migrate, integer column declared a string: %v, want an error", err)
			}
			u, err := s.Users().ByID(ctx, 1)
			if err != nil {
				t.Fatal(err)
			}
			if _, has := u.Custom["age"]; !has {
				t.Errorf("ByID: Custom = %v, want age", u.Custom)
			}
		})
	}
}
