package handlers

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/store"
)

func customUser() store.User {
	now := time.Date(2024, 3, 1, 8, 0, 0, 0, time.UTC)
	return store.User{ID: 1, DocumentID: "abc", Username: "alice", Email: "alice@example.com", Provider: "local",
		CreatedAt: now, UpdatedAt: now, PublishedAt: now, Custom: map[string]any{
			"firstName": "Alice", "age": int64(31), "score": 2.5, "vip": true, "lastSeen": now,
			"prefs": json.RawMessage(`{"theme":"dark"}`), "bio": nil,
		}}
}

// TestUserJSONWithFields: custom fields follow the built-in attributes, in
// name order, datetimes as Strapi's timestamps, JSON as JSON, unset as null;
// a user without custom fields keeps the plain encoding.
func TestUserJSONWithFields(t *testing.T) {
	got, err := json.Marshal(userJSON(customUser(), false))
	if err != nil {
		t.Fatal(err)
	}
	want := `{"id":1,"documentId":"abc","username":"alice","email":"alice@example.com","provider":"local","confirmed":false,"blocked":false,` +
		`"createdAt":"2024-03-01T08:00:00.000Z","updatedAt":"2024-03-01T08:00:00.000Z","publishedAt":"2024-03-01T08:00:00.000Z",` +
		`"age":31,"bio":null,"firstName":"Alice","lastSeen":"2024-03-01T08:00:00.000Z","prefs":{"theme":"dark"},"score":2.5,"vip":true}`
	if string(got) != want {
		t.Errorf("userJSON =\n%s\nwant\n%s", got, want)
	}
	plain := customUser()
	plain.Custom = nil
	if _, ok := userJSON(plain, false).(userView); !ok {
		t.Errorf("userJSON without custom fields is %T, want userView", userJSON(plain, false))
	}
}

// BenchmarkUserJSONWithFields is BenchmarkUserViewJSON's user with seven
// custom fields.
func BenchmarkUserJSONWithFields(b *testing.B) {
	v := userJSON(customUser(), false)
	for b.Loop() {
		if _, err := json.Marshal(v); err != nil {
			b.Fatal(err)
		}
	}
}
