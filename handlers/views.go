package handlers

import (
	"time"

	"github.com/gatehouse/gatehouse/store"
)

// timestamp renders times as Strapi does: UTC with milliseconds.
type timestamp time.Time

func (t timestamp) MarshalJSON() ([]byte, error) {
	return []byte(`"` + time.Time(t).UTC().Format("2006-01-02T15:04:05.000Z") + `"`), nil
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

// authResponse is {jwt, user}.
type authResponse struct {
	JWT  string   `json:"jwt"`
	User userView `json:"user"`
}
