package store

import (
	"context"

	"gorm.io/gorm"
)

// Roles queries up_roles.
type Roles struct{ db *gorm.DB }

// Roles returns the roles accessor.
func (s *Store) Roles() Roles { return Roles{db: s.DB} }

// List returns every role sorted by name, as Strapi lists them.
func (r Roles) List(ctx context.Context) ([]Role, error) {
	var roles []Role
	err := r.db.WithContext(ctx).Order("name").Find(&roles).Error
	return roles, translate(err)
}

// ByType returns the role of this type.
func (r Roles) ByType(ctx context.Context, roleType string) (Role, error) {
	var role Role
	err := r.db.WithContext(ctx).Where("type = ?", roleType).Take(&role).Error
	return role, translate(err)
}

// ByID returns the role with this id.
func (r Roles) ByID(ctx context.Context, id uint) (Role, error) {
	var role Role
	err := r.db.WithContext(ctx).Take(&role, id).Error
	return role, translate(err)
}

// Create inserts the role, filling DocumentID when empty.
func (r Roles) Create(ctx context.Context, role *Role) error {
	if role.DocumentID == "" {
		role.DocumentID = NewDocumentID()
	}
	return translate(r.db.WithContext(ctx).Create(role).Error)
}

// Count returns the number of roles.
func (r Roles) Count(ctx context.Context) (int64, error) {
	var n int64
	err := r.db.WithContext(ctx).Model(&Role{}).Count(&n).Error
	return n, translate(err)
}

// ByDocumentID returns the role with this documentId.
func (r Roles) ByDocumentID(ctx context.Context, documentID string) (Role, error) {
	var role Role
	err := r.db.WithContext(ctx).Where("document_id = ?", documentID).Take(&role).Error
	return role, translate(err)
}

// WithTx returns the accessor bound to a transaction.
func (r Roles) WithTx(tx *gorm.DB) Roles { return Roles{db: tx} }

// Update writes the given columns of the role.
func (r Roles) Update(ctx context.Context, id uint, columns map[string]any) error {
	res := r.db.WithContext(ctx).Model(&Role{}).Where("id = ?", id).Updates(columns)
	if res.Error != nil {
		return translate(res.Error)
	}
	if res.RowsAffected == 0 {
		return ErrNotFound
	}
	return nil
}

// DeleteMovingUsers moves the role's users to the role moveTo and deletes
// the role. Run it in a transaction (WithTx) and call Store.InvalidateCache
// after the commit.
func (r Roles) DeleteMovingUsers(ctx context.Context, id, moveTo uint) error {
	db := r.db.WithContext(ctx)
	if err := db.Model(&User{}).Where("role_id = ?", id).Update("role_id", moveTo).Error; err != nil {
		return translate(err)
	}
	res := db.Delete(&Role{}, id)
	if res.Error != nil {
		return translate(res.Error)
	}
	if res.RowsAffected == 0 {
		return ErrNotFound
	}
	return nil
}

// Types returns every role type.
func (r Roles) Types(ctx context.Context) ([]string, error) {
	var types []string
	err := r.db.WithContext(ctx).Model(&Role{}).Order("type").Pluck("type", &types).Error
	return types, translate(err)
}
