package main

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"path/filepath"
	"sync"
	"testing"

	"github.com/gatehouse/gatehouse/policy"
	"github.com/gatehouse/gatehouse/store"
)

// The start race (issue 10, point 9): instances started at once on an
// empty database all come up — migrations, seeding, the development JWT
// secret and the admin from ADMIN_EMAIL run under the database's start-up
// lock — with exactly one admin, one secret and the default policy seeded
// once.

// startRaceInstances is how many instances start at once.
const startRaceInstances = 5

// startRace wires startRaceInstances apps over databaseURL at once, as main
// does, and checks what they left in the database.
func startRace(t *testing.T, databaseURL string) {
	values := map[string]string{"DATABASE_URL": databaseURL, "RATE_LIMIT_ENABLED": "false",
		"ADMIN_EMAIL": "admin@example.com", "ADMIN_PASSWORD": "admin-password"} // no JWT_SECRET: development's, kept in the database
	apps := make([]*app, startRaceInstances)
	errs := make([]error, startRaceInstances)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range apps {
		wg.Go(func() {
			<-start
			apps[i], errs[i] = newApp(context.Background(), testConfig(t, values), slog.New(slog.DiscardHandler))
		})
	}
	close(start)
	wg.Wait()
	for i, a := range apps {
		if a != nil {
			t.Cleanup(func() { a.store.Close() })
		}
		if errs[i] != nil {
			t.Errorf("instance %d of %d started at once: %v", i+1, len(apps), errs[i])
		}
	}
	if t.Failed() {
		t.FailNow()
	}

	ctx := context.Background()
	st := apps[0].store
	var admins, secrets, rules int64
	if err := st.DB.Model(&store.User{}).Joins("JOIN up_roles ON up_roles.id = up_users.role_id").Where("up_roles.type = ?", "admin").Count(&admins).Error; err != nil {
		t.Fatal(err)
	}
	if err := st.DB.Model(&store.Setting{}).Where("name = ?", store.KeyJWTSecret).Count(&secrets).Error; err != nil {
		t.Fatal(err)
	}
	if err := st.DB.Table("casbin_rule").Count(&rules).Error; err != nil {
		t.Fatal(err)
	}
	roles, err := st.Roles().List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if admins != 1 || secrets != 1 || len(roles) != 3 || rules != int64(len(policy.Default())) {
		t.Errorf("after %d instances started at once: %d admins, %d JWT secrets, %d roles, %d policy rows; want 1, 1, 3 and %d (the default policy once)",
			len(apps), admins, secrets, len(roles), rules, len(policy.Default()))
	}
	// One secret for all: a token from the first instance works on each.
	token := itApp{t, apps[0]}.login("admin@example.com", "admin-password")
	for i, a := range apps {
		itApp{t, a}.expect(http.StatusOK, "GET", "/api/users/me", "", token)
		if got, want := a.enforcer.Revision(), apps[0].enforcer.Revision(); i > 0 && got != want {
			t.Logf("instance %d loaded policy revision %d, the first %d", i+1, got, want)
		}
	}
	t.Logf("%d instances started at once over %s", len(apps), fmt.Sprint(st.Dialect))
}

func TestStartRaceSQLite(t *testing.T) {
	startRace(t, "sqlite://"+filepath.Join(t.TempDir(), "gatehouse.db"))
}

func TestStartRacePostgres(t *testing.T) {
	startRace(t, freshPostgres(t))
}

func TestStartRaceMySQL(t *testing.T) {
	startRace(t, freshMySQL(t, ""))
}
