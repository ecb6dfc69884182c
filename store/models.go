// Package store owns Gatehouse's persistent data: users, roles and the settings
// documents (advanced settings, email templates, provider settings), with the
// queries the HTTP layer needs. It knows GORM and SQL, nothing about HTTP.
package store

import (
	"time"
)

// User is a row of up_users, the users of the protected application.
// Password and the two token hashes are private: they never leave this
// package's callers through JSON (see the json:"-" tags) and cannot be
// filtered or sorted on (see userquery.ParseQuery).
type User struct {
	ID                  uint       `gorm:"primaryKey" json:"id"`
	DocumentID          string     `gorm:"size:32;uniqueIndex;not null" json:"documentId"`
	Username            string     `gorm:"size:255;uniqueIndex;not null" json:"username"`
	Email               string     `gorm:"size:255;not null;uniqueIndex:idx_up_users_provider_email,priority:2;index:idx_up_users_email" json:"email"`
	Provider            string     `gorm:"size:64;not null;default:local;uniqueIndex:idx_up_users_provider_email,priority:1" json:"provider"`
	Password            string     `gorm:"size:255" json:"-"`
	ResetPasswordToken  *string    `gorm:"size:64;index" json:"-"`
	ResetTokenExpiresAt *time.Time `json:"-"`
	ConfirmationToken   *string    `gorm:"size:64;index" json:"-"`
	ConfirmationExpires *time.Time `json:"-"`
	// TokensValidAfter revokes every JWT issued before it (password change or reset).
	TokensValidAfter time.Time `json:"-"`
	Confirmed        bool      `gorm:"not null;default:false" json:"confirmed"`
	Blocked          bool      `gorm:"not null;default:false" json:"blocked"`
	RoleID           *uint     `gorm:"index" json:"-"`
	Role             *Role     `gorm:"foreignKey:RoleID;constraint:OnDelete:SET NULL" json:"role,omitempty"`
	CreatedAt        time.Time `json:"createdAt"`
	UpdatedAt        time.Time `json:"updatedAt"`
	PublishedAt      time.Time `json:"publishedAt"`
	// Custom holds custom user fields (USER_FIELDS_FILE) by name: the
	// public ones read (nil for NULL), or those to write on create. Values
	// are string, int64, float64, bool, time.Time (datetime), a
	// "YYYY-MM-DD" string (date) or json.RawMessage (json).
	Custom map[string]any `gorm:"-" json:"-"`
}

// TableName keeps Strapi's table name.
func (User) TableName() string { return "up_users" }

// Role is a row of up_roles. Type is the stable identifier policies use as the
// Casbin subject; Name is for people.
type Role struct {
	ID          uint      `gorm:"primaryKey" json:"id"`
	DocumentID  string    `gorm:"size:32;uniqueIndex;not null" json:"documentId"`
	Name        string    `gorm:"size:255;not null" json:"name"`
	Description string    `gorm:"size:1024" json:"description"`
	Type        string    `gorm:"size:100;uniqueIndex;not null" json:"type"`
	CreatedAt   time.Time `json:"createdAt"`
	UpdatedAt   time.Time `json:"updatedAt"`
	PublishedAt time.Time `json:"publishedAt"`
}

// TableName keeps Strapi's table name.
func (Role) TableName() string { return "up_roles" }

// Setting is one JSON document of the settings table, keyed like Strapi's core
// store ("advanced", "email", "grant", "jwt_secret", "policy_revision", …).
type Setting struct {
	Key       string `gorm:"column:name;primaryKey;size:100"`
	Value     string `gorm:"type:text;not null"`
	UpdatedAt time.Time
}

// TableName names the settings table.
func (Setting) TableName() string { return "gatehouse_settings" }
