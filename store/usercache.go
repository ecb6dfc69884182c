package store

import (
	"context"
	"errors"
	"sync"
	"time"

	"gorm.io/gorm"
)

// userCacheTTL bounds how long a user read for authentication may be reused.
// Writes made through this package drop the entry at once; the TTL only
// bounds staleness for writes made by another process sharing the database.
const userCacheTTL = 2 * time.Second

// userCacheMax bounds the cache's size; past it the cache starts over.
const userCacheMax = 100_000

type cachedUser struct {
	user    User
	expires time.Time
}

type cachedRole struct {
	role    Role
	expires time.Time
}

// userCache keeps recently authenticated users by id, and their roles by id
// (with the same TTL). generation counts drops, so a read that raced with a
// write is not kept.
type userCache struct {
	mu         sync.RWMutex
	users      map[uint]cachedUser
	roles      map[uint]cachedRole
	generation uint64
}

func newUserCache() *userCache {
	return &userCache{users: make(map[uint]cachedUser), roles: make(map[uint]cachedRole)}
}

func (c *userCache) gen() uint64 {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.generation
}

func (c *userCache) role(id uint, now time.Time) (Role, bool) {
	c.mu.RLock()
	e, ok := c.roles[id]
	c.mu.RUnlock()
	if !ok || now.After(e.expires) {
		return Role{}, false
	}
	return e.role, true
}

func (c *userCache) putRole(r Role, now time.Time, gen uint64) {
	c.mu.Lock()
	if c.generation == gen {
		if len(c.roles) >= userCacheMax {
			clear(c.roles)
		}
		c.roles[r.ID] = cachedRole{role: r, expires: now.Add(userCacheTTL)}
	}
	c.mu.Unlock()
}

func (c *userCache) get(id uint, now time.Time) (User, bool) {
	c.mu.RLock()
	e, ok := c.users[id]
	c.mu.RUnlock()
	if !ok || now.After(e.expires) {
		return User{}, false
	}
	u := e.user
	if u.Role != nil {
		role := *u.Role
		u.Role = &role
	}
	return u, true
}

func (c *userCache) put(u User, now time.Time, gen uint64) {
	c.mu.Lock()
	if c.generation == gen { // no write landed while the user was read
		if len(c.users) >= userCacheMax {
			clear(c.users)
		}
		c.users[u.ID] = cachedUser{user: u, expires: now.Add(userCacheTTL)}
	}
	c.mu.Unlock()
}

func (c *userCache) drop(id uint) {
	c.mu.Lock()
	delete(c.users, id)
	c.generation++
	c.mu.Unlock()
}

func (c *userCache) clear() {
	c.mu.Lock()
	clear(c.users)
	clear(c.roles)
	c.generation++
	c.mu.Unlock()
}

// ForAuth returns the user with its role for authenticating a request,
// from a short-lived cache when possible. Every write to users or roles made
// through this package invalidates it.
//
// A miss reads the user row alone and the role from the cache of roles:
// on SQLite that costs half of ByID's join (every statement is parsed
// again on each run), and misses are what /users/me pays for most once
// tokens verify from cache (every active user once per TTL).
func (u Users) ForAuth(ctx context.Context, id uint) (User, error) {
	now := time.Now()
	if user, ok := u.cache.get(id, now); ok {
		return user, nil
	}
	gen := u.cache.gen()
	var user User
	if err := u.db.WithContext(ctx).Where("id = ?", id).Take(&user).Error; err != nil {
		return User{}, translate(err)
	}
	if user.RoleID != nil {
		role, ok := u.cache.role(*user.RoleID, now)
		if !ok {
			err := u.db.WithContext(ctx).Take(&role, *user.RoleID).Error
			switch {
			case err == nil:
				u.cache.putRole(role, now, gen)
				ok = true
			case !errors.Is(err, gorm.ErrRecordNotFound): // a missing role is no role, as ByID's left join
				return User{}, translate(err)
			}
		}
		if ok {
			user.Role = &role
		}
	}
	u.cache.put(user, now, gen)
	return user, nil
}

// InvalidateCache drops every cached user; call it after writing users or
// roles other than through this package.
func (s *Store) InvalidateCache() {
	s.Users().cache.clear()
}
