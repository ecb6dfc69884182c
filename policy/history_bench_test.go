package policy

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/store"
	"gorm.io/gorm"

	"github.com/gatehouse/gatehouse/history"
)

// BenchmarkPolicyWrite measures one policy write as the roles API makes it
// (Update adding, then removing, one row: two writes an iteration, so the
// table stays the same size), over a SQLite file holding the default policy
// and 1,000 more rows (Gatehouse's settings: WAL, synchronous=NORMAL), with the history recorded and without it, in the
// same run:
//
//	go test -run '^$' -bench BenchmarkPolicyWrite -benchtime 1000x -count 3 ./policy
//
// and on PostgreSQL too with GATEHOUSE_TEST_POSTGRES_URL set.
func BenchmarkPolicyWrite(b *testing.B) {
	databases := []struct {
		name string
		open func(b *testing.B) *gorm.DB
	}{
		// Gatehouse's own SQLite settings (WAL, synchronous=NORMAL).
		{"sqlite", func(b *testing.B) *gorm.DB {
			return openStore(b, "sqlite://"+filepath.Join(b.TempDir(), "bench.db")).DB
		}},
		// A schema of its own on GATEHOUSE_TEST_POSTGRES_URL, when set.
		{"postgres", func(b *testing.B) *gorm.DB {
			base := os.Getenv("GATEHOUSE_TEST_POSTGRES_URL")
			if base == "" {
				b.Skip("GATEHOUSE_TEST_POSTGRES_URL is not set: no PostgreSQL run")
			}
			admin := openStore(b, base)
			schema := "gh_bench_" + randomHex()
			if err := admin.DB.Exec("CREATE SCHEMA " + schema).Error; err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { admin.DB.Exec("DROP SCHEMA " + schema + " CASCADE") })
			u, err := url.Parse(base)
			if err != nil {
				b.Fatal(err)
			}
			q := u.Query()
			q.Set("search_path", schema)
			u.RawQuery = q.Encode()
			return openStore(b, u.String()).DB
		}},
	}
	for _, database := range databases {
		for _, withHistory := range []bool{false, true} {
			name := database.name + "/without-history"
			if withHistory {
				name = database.name + "/with-history"
			}
			b.Run(name, func(b *testing.B) {
				e, err := New(database.open(b), Model)
				if err != nil {
					b.Fatal(err)
				}
				rules := Default()
				for i := range 1000 {
					rules = append(rules, p("public", fmt.Sprintf("/api/items%d/:id", i), "GET"))
				}
				if err := e.Replace(context.Background(), rules); err != nil {
					b.Fatal(err)
				}
				if !withHistory {
					e.history = nil
				}
				ctx := as("root", "api")
				row := []Rule{p("public", "/api/users", "GET")}
				cpu := startCPU(b)
				for range b.N {
					if err := e.Update(ctx, row, nil, nil); err != nil {
						b.Fatal(err)
					}
					if err := e.Update(ctx, nil, row, nil); err != nil {
						b.Fatal(err)
					}
				}
				cpu.report()
			})
		}
	}
}

// BenchmarkReplace100k replaces a 100,000-row policy with another one
// (every row changes) and checks that the history records one entry:
//
//	go test -run '^$' -bench BenchmarkReplace100k -benchtime 1x -count 2 ./policy
func BenchmarkReplace100k(b *testing.B) {
	const n = 100000
	policyOf := func(prefix string) []Rule {
		rules := []Rule{p("admin", "/api/*", "*")}
		for i := range n {
			rules = append(rules, p("public", fmt.Sprintf("/api/%s%d/:id", prefix, i), "GET"))
		}
		return rules
	}
	for _, withHistory := range []bool{false, true} {
		name := "without-history"
		if withHistory {
			name = "with-history"
		}
		b.Run(name, func(b *testing.B) {
			// DB_TIMEOUT's 2s default is too short for 100,000 rows on a busy machine.
			st, err := store.OpenWith("sqlite://"+filepath.Join(b.TempDir(), "bench.db"), store.Options{Timeout: 10 * time.Minute})
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { st.Close() })
			db := st.DB
			e, err := New(db, Model)
			if err != nil {
				b.Fatal(err)
			}
			if err := e.Replace(context.Background(), policyOf("a")); err != nil {
				b.Fatal(err)
			}
			if !withHistory {
				e.history = nil
			}
			ctx := as("cli:ops", "cli")
			b.ResetTimer()
			for i := range b.N {
				if err := e.Replace(ctx, policyOf(fmt.Sprintf("b%d_", i))); err != nil {
					b.Fatal(err)
				}
			}
			b.StopTimer()
			if !withHistory {
				return
			}
			var entries int64
			if err := db.Table("gatehouse_policy_history").Count(&entries).Error; err != nil {
				b.Fatal(err)
			}
			if entries != int64(b.N)+1 {
				b.Fatalf("%d history entries after %d replaces of %d rows, want %d", entries, b.N+1, n, b.N+1)
			}
			last, _, err := e.History(context.Background(), history.Filter{Limit: 1})
			if err != nil {
				b.Fatal(err)
			}
			b.ReportMetric(float64(last[0].AddedCount+last[0].RemovedCount), "rows/entry")
			b.ReportMetric(float64(entries)/float64(b.N+1), "entries/replace")
		})
	}
}

// cpuTimer reports the process's CPU time (user and system, every
// goroutine: the database driver's work included) per op, as "cpu-µs/op":
// on a shared machine it moves less than the wall time, which waits for
// the other sessions' processes too.
type cpuTimer struct {
	b     *testing.B
	start time.Duration
}

func startCPU(b *testing.B) cpuTimer {
	b.ResetTimer()
	return cpuTimer{b: b, start: processCPU(b)}
}

func (c cpuTimer) report() {
	c.b.StopTimer()
	used := processCPU(c.b) - c.start
	c.b.ReportMetric(float64(used.Microseconds())/float64(c.b.N), "cpu-µs/op")
}
