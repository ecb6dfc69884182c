// Package bench holds Gatehouse's benchmarks (go test -bench . ./bench) and
// the seeding they share with the load program (bench/load): users inserted
// in bulk and policies of a chosen size.
//
// Heavy set-ups are guarded: policies of 100,000 rows are built only when the
// benchmark asks for them, and GATEHOUSE_BENCH_SMALL=1 skips them altogether
// (see BENCHMARKS.md).
package bench

import (
	"context"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/gatehouse/gatehouse/policy"
	"github.com/gatehouse/gatehouse/store"
)

// Password is every seeded user's password.
const Password = "bench-Passw0rd!"

// Secret signs the benchmarks' tokens (and the load program's server).
const Secret = "bench-secret-bench-secret-bench-secret"

// Small reports whether GATEHOUSE_BENCH_SMALL is set: the benchmarks then
// skip their 100,000-row policies.
func Small() bool { return os.Getenv("GATEHOUSE_BENCH_SMALL") != "" }

// Million reports whether GATEHOUSE_BENCH_MILLION is set: only then do the
// benchmarks seed a million users (minutes of set-up; CI's brief run skips
// them).
func Million() bool { return os.Getenv("GATEHOUSE_BENCH_MILLION") != "" }

// Username names the i-th seeded user (i from 1).
func Username(i int) string { return fmt.Sprintf("user%d", i) }

// Email is the i-th seeded user's email.
func Email(i int) string { return fmt.Sprintf("user%d@bench.local", i) }

// Essential is the policy every benchmark needs: local login and a count of
// users for the public role, /users/me for authenticated users, every users
// route for admins. /api/bench/ping is the in-process benchmarks' own route
// (an embedding app's route registered with Server.Route).
func Essential() []policy.Rule {
	p := func(v ...string) policy.Rule { return policy.Rule{Type: "p", Values: v} }
	return []policy.Rule{
		p("public", "/api/auth/local", "POST"),
		p("public", "/api/users/count", "GET"),
		p("public", "/api/bench/ping", "GET"),
		p("authenticated", "/api/users/me", "GET"),
		p("admin", "/api/users", "*"),
		p("admin", "/api/users/*", "*"),
		{Type: "g", Values: []string{"admin", "authenticated"}},
	}
}

// Policy returns exactly n rules (n ≥ len(Essential())): filler rows for
// roles no request uses (1,000 roles × 100 routes, the shape of a large
// deployment) followed by the essential rows, so an uncached decision scans
// every filler row first.
func Policy(n int) []policy.Rule {
	essential := Essential()
	filler := n - len(essential)
	if filler < 0 {
		filler = 0
	}
	rules := make([]policy.Rule, 0, filler+len(essential))
	for k := range filler {
		rules = append(rules, policy.Rule{Type: "p", Values: []string{
			fmt.Sprintf("role%d", k/100), fmt.Sprintf("/api/res%d/:id", k%100), "GET"}})
	}
	return append(rules, essential...)
}

// PolicyCSV renders rules as a policy CSV (for policy.NewFromCSV).
func PolicyCSV(rules []policy.Rule) string {
	var b strings.Builder
	for _, r := range rules {
		b.WriteString(r.String())
		b.WriteByte('\n')
	}
	return b.String()
}

// Open opens (creating) the SQLite database at path, migrates it, and
// bootstraps the default roles and advanced settings.
func Open(ctx context.Context, path string) (*store.Store, error) {
	// Seeding inserts 100,000 rows per statement: longer than a request's
	// DB_TIMEOUT, so the bench database gets minutes.
	st, err := store.OpenWith("sqlite://"+path, store.Options{Timeout: 5 * time.Minute})
	if err != nil {
		return nil, err
	}
	if err := st.Migrate(); err != nil {
		st.Close()
		return nil, err
	}
	if _, err := st.Bootstrap(ctx); err != nil {
		st.Close()
		return nil, err
	}
	return st, nil
}

// SeedUsers inserts users first+1 … first+n: confirmed local users named by
// Username and Email, with the role of roleType and the given bcrypt hash
// (one hash for all: a comparison costs the same whatever the hash). It runs
// one INSERT … SELECT over a recursive sequence per chunk, so a million rows
// take seconds, not minutes; their identifiers (usernames and emails, the
// key registration checks) follow in one statement per chunk. SQLite only.
func SeedUsers(ctx context.Context, st *store.Store, first, n int, roleType, hash string) error {
	role, err := st.Roles().ByType(ctx, roleType)
	if err != nil {
		return fmt.Errorf("bench: role %s: %w", roleType, err)
	}
	now := time.Now().UTC().Truncate(time.Millisecond)
	valid := now.Add(-time.Hour)
	const chunk = 100_000
	for lo := first; lo < first+n; lo += chunk {
		hi := min(lo+chunk, first+n)
		err := st.DB.WithContext(ctx).Exec(`WITH RECURSIVE seq(i) AS (SELECT ? UNION ALL SELECT i+1 FROM seq WHERE i < ?)
INSERT INTO up_users (document_id, username, email, provider, password, tokens_valid_after, confirmed, blocked, role_id, created_at, updated_at, published_at)
SELECT printf('bench%019d', i), 'user' || i, 'user' || i || '@bench.local', 'local', ?, ?, 1, 0, ?, ?, ?, ? FROM seq`,
			lo+1, hi, hash, valid, role.ID, now, now, now).Error
		if err != nil {
			return fmt.Errorf("bench: seed users %d-%d: %w", lo+1, hi, err)
		}
		// Their sign-in identifiers (store/identifiers.go), as the store's
		// writes make them: the names and emails are lower-case ASCII.
		err = st.DB.WithContext(ctx).Exec(`INSERT INTO up_user_identifiers (normalized, user_id)
SELECT username, id FROM up_users WHERE document_id BETWEEN printf('bench%019d', ?) AND printf('bench%019d', ?)
UNION ALL
SELECT email, id FROM up_users WHERE document_id BETWEEN printf('bench%019d', ?) AND printf('bench%019d', ?)`,
			lo+1, hi, lo+1, hi).Error
		if err != nil {
			return fmt.Errorf("bench: seed identifiers %d-%d: %w", lo+1, hi, err)
		}
	}
	return nil
}
