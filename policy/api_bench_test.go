package policy_test

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/handlers"
	"github.com/gatehouse/gatehouse/policy"
	"github.com/gatehouse/gatehouse/setup"
	"github.com/gatehouse/gatehouse/store"
	"github.com/gin-gonic/gin"
	"golang.org/x/crypto/bcrypt"
)

// BenchmarkPolicyWriteAPI measures a policy write as a user makes it:
// PUT /api/users-permissions/policy (CSV) through the real router, over a
// temporary SQLite database with the default policy, as the admin, with the
// history recorded and without it (policy.WithoutHistory) in the same run.
// One op is two PUTs (one row added, then removed), each a Replace with its
// plan (the flips) and lint:
//
//	go test -run '^$' -bench BenchmarkPolicyWriteAPI -benchtime 200x ./policy
func BenchmarkPolicyWriteAPI(b *testing.B) {
	gin.SetMode(gin.ReleaseMode)
	for _, withHistory := range []bool{false, true} {
		name := "without-history"
		if withHistory {
			name = "with-history"
		}
		b.Run(name, func(b *testing.B) {
			ctx := context.Background()
			// Gatehouse's own start-up: migrations, roles, the default policy.
			st, e, err := setup.Open(ctx, "sqlite://"+filepath.Join(b.TempDir(), "api.db"), setup.Options{Store: store.Options{Timeout: 30 * time.Second}, Log: slog.New(slog.DiscardHandler)})
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { st.Close() })
			if !withHistory {
				policy.WithoutHistory(e)
			}
			srv, err := handlers.New(handlers.Config{Store: st, Enforcer: e, Secret: []byte("bench-secret-bench-secret-bench-secret"),
				TokenTTL: time.Hour, BcryptCost: bcrypt.MinCost})
			if err != nil {
				b.Fatal(err)
			}
			role, err := st.Roles().ByType(ctx, "admin")
			if err != nil {
				b.Fatal(err)
			}
			hash, _ := bcrypt.GenerateFromPassword([]byte("Passw0rd!"), bcrypt.MinCost)
			now := time.Now().UTC().Add(-time.Minute)
			admin := store.User{DocumentID: store.NewDocumentID(), Username: "root", Email: "root@example.com", Provider: "local",
				Password: string(hash), Confirmed: true, RoleID: &role.ID, PublishedAt: now, TokensValidAfter: now}
			if err := st.Users().Create(ctx, &admin); err != nil {
				b.Fatal(err)
			}
			request := func(method, path, token, contentType, body string) *httptest.ResponseRecorder {
				req := httptest.NewRequest(method, path, strings.NewReader(body))
				if token != "" {
					req.Header.Set("Authorization", "Bearer "+token)
				}
				if contentType != "" {
					req.Header.Set("Content-Type", contentType)
				}
				rec := httptest.NewRecorder()
				srv.ServeHTTP(rec, req)
				return rec
			}
			login := request(http.MethodPost, "/api/auth/local", "", "application/json", `{"identifier":"root@example.com","password":"Passw0rd!"}`)
			var auth struct {
				JWT string `json:"jwt"`
			}
			if login.Code != http.StatusOK || json.Unmarshal(login.Body.Bytes(), &auth) != nil || auth.JWT == "" {
				b.Fatalf("login: %d %s", login.Code, login.Body)
			}
			base := policy.FormatCSV(policy.Default(), false)
			bodies := []string{base + "\np, public, /api/users/count, GET\n", base + "\n"}
			token := auth.JWT
			report := policy.MeasureCPU(b)
			for range b.N {
				for _, body := range bodies {
					if rec := request(http.MethodPut, "/api/users-permissions/policy", token, "text/csv", body); rec.Code != http.StatusOK {
						b.Fatalf("PUT policy: %d %s", rec.Code, rec.Body)
					}
				}
			}
			report()
		})
	}
}
