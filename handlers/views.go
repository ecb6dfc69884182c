package handlers

import (
	"time"

	"github.com/gatehouse/gatehouse/store"
)

// timestamp renders times as Strapi does: UTC with milliseconds.
type timestamp time.Time

// timestampLayout is Strapi's (JavaScript's toISOString) format.
const timestampLayout = "2006-01-02T15:04:05.000Z"

// MarshalText formats the time. As a TextMarshaler (not a JSON Marshaler)
// its output is quoted by encoding/json without the validation and
// compaction a MarshalJSON result goes through: /users/me spent 13% of its
// CPU there.
func (t timestamp) MarshalText() ([]byte, error) {
	return appendTimestamp(make([]byte, 0, len(timestampLayout)), time.Time(t)), nil
}

// appendTimestamp appends the time in timestampLayout, by hand for the
// years 0 to 9999 (time.Format's layout parsing was the other half of the
// cost) and through Format otherwise.
func appendTimestamp(b []byte, t time.Time) []byte {
	t = t.UTC()
	year, month, day := t.Date()
	if year < 0 || year > 9999 {
		return t.AppendFormat(b, timestampLayout)
	}
	hour, minute, second := t.Clock()
	digits := func(b []byte, v, width int) []byte {
		var buf [4]byte
		for i := width - 1; i >= 0; i-- {
			buf[i] = byte('0' + v%10)
			v /= 10
		}
		return append(b, buf[:width]...)
	}
	b = digits(b, year, 4)
	b = append(b, '-')
	b = digits(b, int(month), 2)
	b = append(b, '-')
	b = digits(b, day, 2)
	b = append(b, 'T')
	b = digits(b, hour, 2)
	b = append(b, ':')
	b = digits(b, minute, 2)
	b = append(b, ':')
	b = digits(b, second, 2)
	b = append(b, '.')
	b = digits(b, t.Nanosecond()/int(time.Millisecond), 3)
	return append(b, 'Z')
}

// userView is the public shape of a user. It is a separate type so private
// attributes (password, token hashes) cannot reach any output even if the
// model grows: only what is listed here is ever sent.
type userView struct {
	ID          uint      `json:"id"`
	DocumentID  string    `json:"documentId"`
	Username    string    `json:"username"`
	Email       string    `json:"email"`
	Provider    string    `json:"provider"`
	Confirmed   bool      `json:"confirmed"`
	Blocked     bool      `json:"blocked"`
	CreatedAt   timestamp `json:"createdAt"`
	UpdatedAt   timestamp `json:"updatedAt"`
	PublishedAt timestamp `json:"publishedAt"`
	Role        *roleView `json:"role,omitempty"`
}

// roleView is the public shape of a role (never with its users).
type roleView struct {
	ID          uint      `json:"id"`
	DocumentID  string    `json:"documentId"`
	Name        string    `json:"name"`
	Description string    `json:"description"`
	Type        string    `json:"type"`
	CreatedAt   timestamp `json:"createdAt"`
	UpdatedAt   timestamp `json:"updatedAt"`
	PublishedAt timestamp `json:"publishedAt"`
}

func newRoleView(r store.Role) *roleView {
	return &roleView{ID: r.ID, DocumentID: r.DocumentID, Name: r.Name, Description: r.Description, Type: r.Type,
		CreatedAt: timestamp(r.CreatedAt), UpdatedAt: timestamp(r.UpdatedAt), PublishedAt: timestamp(r.PublishedAt)}
}

// newUserView sanitises a user; the role is included only when asked for.
func newUserView(u store.User, withRole bool) userView {
	v := userView{ID: u.ID, DocumentID: u.DocumentID, Username: u.Username, Email: u.Email, Provider: u.Provider,
		Confirmed: u.Confirmed, Blocked: u.Blocked,
		CreatedAt: timestamp(u.CreatedAt), UpdatedAt: timestamp(u.UpdatedAt), PublishedAt: timestamp(u.PublishedAt)}
	if withRole && u.Role != nil {
		v.Role = newRoleView(*u.Role)
	}
	return v
}

// userJSON is the user's public JSON: newUserView's, with the public custom
// fields (USER_FIELDS_FILE) when the user carries any.
func userJSON(u store.User, withRole bool) any {
	v := newUserView(u, withRole)
	if len(u.Custom) == 0 {
		return v
	}
	return userWithFields{userView: v, custom: u.Custom}
}

// authResponse is {jwt, user}.
type authResponse struct {
	JWT  string `json:"jwt"`
	User any    `json:"user"`
}
