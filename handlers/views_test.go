package handlers

import (
	"encoding/json"
	"math/rand/v2"
	"testing"
	"time"
)

// TestTimestampMatchesFormat: the hand-written formatting gives exactly
// time.Format's output, in JSON too, for random instants (any zone, years 0
// to 9999) and the edges around them.
func TestTimestampMatchesFormat(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	zone := time.FixedZone("x", -(9*3600 + 30*60))
	cases := []time.Time{
		{}, time.Unix(0, 0), time.Date(9999, 12, 31, 23, 59, 59, 999_999_999, time.UTC),
		time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(-1, 1, 1, 0, 0, 0, 0, time.UTC),
		time.Date(2026, 11, 29, 0, 0, 0, 1_000_000, zone),
	}
	minSec, maxSec := time.Date(0, 1, 1, 0, 0, 0, 0, time.UTC).Unix(), time.Date(9999, 12, 31, 0, 0, 0, 0, time.UTC).Unix()
	for range 10_000 {
		cases = append(cases, time.Unix(minSec+r.Int64N(maxSec-minSec), r.Int64N(1e9)).In(zone))
	}
	for _, c := range cases {
		want := c.UTC().Format(timestampLayout)
		got, err := timestamp(c).MarshalText()
		if err != nil || string(got) != want {
			t.Fatalf("%v: MarshalText = %q, %v; want %q", c, got, err, want)
		}
		j, err := json.Marshal(struct {
			At timestamp `json:"at"`
		}{timestamp(c)})
		if err != nil || string(j) != `{"at":"`+want+`"}` {
			t.Fatalf("%v: JSON = %s, %v", c, j, err)
		}
	}
}

func BenchmarkUserViewJSON(b *testing.B) {
	now := time.Now()
	v := userView{ID: 1, DocumentID: "abc", Username: "alice", Email: "alice@example.com", Provider: "local",
		CreatedAt: timestamp(now), UpdatedAt: timestamp(now), PublishedAt: timestamp(now)}
	for b.Loop() {
		if _, err := json.Marshal(v); err != nil {
			b.Fatal(err)
		}
	}
}
