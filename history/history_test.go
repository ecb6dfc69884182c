package history

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
)

// TestRowsRoundTrip: the compressed form gives back the rows exactly,
// commas, quotes and unicode included, and stays small for a large change.
func TestRowsRoundTrip(t *testing.T) {
	added := [][]string{{"p", "public", "/api/a,b", "GET"}, {"g", "édition", `"quoted"`}}
	removed := [][]string{{"p", "x", "/api/*", "*"}}
	blob, err := encodeRows(added, removed)
	if err != nil {
		t.Fatal(err)
	}
	gotAdded, gotRemoved, err := decodeRows(blob)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.EqualFunc(gotAdded, added, slices.Equal) || !slices.EqualFunc(gotRemoved, removed, slices.Equal) {
		t.Errorf("round trip = +%v -%v, want +%v -%v", gotAdded, gotRemoved, added, removed)
	}
	var many [][]string
	for i := range 100000 {
		many = append(many, []string{"p", "role", fmt.Sprintf("/api/items%d/:id", i), "GET"})
	}
	blob, err = encodeRows(many, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(blob) > 1<<20 {
		t.Errorf("100,000 rows take %d bytes compressed, want under 1 MiB", len(blob))
	}
	if _, _, err := decodeRows([]byte("not gzip")); err == nil {
		t.Error("decoding garbage succeeded")
	}
}

// TestDiffAndUndo: Undo of Diff gives back the rows before.
func TestDiffAndUndo(t *testing.T) {
	before := [][]string{{"p", "a", "/x", "GET"}, {"p", "b", "/y", "GET"}, {"g", "a", "b"}}
	after := [][]string{{"p", "a", "/x", "GET"}, {"p", "c", "/z", "POST"}, {"p", "c", "/z", "POST"}}
	added, removed := Diff(before, after)
	if fmt.Sprint(added) != "[[p c /z POST]]" || fmt.Sprint(removed) != "[[g a b] [p b /y GET]]" {
		t.Errorf("Diff = +%v -%v", added, removed)
	}
	got := Undo(after, added, removed)
	want := slices.Clone(before)
	sortRows(want)
	if !slices.EqualFunc(got, want, slices.Equal) {
		t.Errorf("Undo = %v, want %v", got, want)
	}
}

// TestChangeFrom: a context without a change is an anonymous library change.
func TestChangeFrom(t *testing.T) {
	if c := ChangeFrom(context.Background()); c.Source != SourceLibrary || c.Actor != "" {
		t.Errorf("ChangeFrom(empty) = %+v", c)
	}
	c := ChangeFrom(WithChange(context.Background(), Change{Actor: "root", Source: SourceAdmin}))
	if c.Actor != "root" || c.Source != SourceAdmin {
		t.Errorf("ChangeFrom = %+v", c)
	}
	if got := clip(strings.Repeat("é", 300), 255); len([]rune(got)) != 255 {
		t.Errorf("clip kept %d runes", len([]rune(got)))
	}
}
