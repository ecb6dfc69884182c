package store

import (
	"context"
	"sync"
	"time"
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

// userCache keeps recently authenticated users by id.
type userCache struct {
	mu    sync.RWMutex
	users map[uint]cachedUser
}

func newUserCache() *userCache { return &userCache{users: make(map[uint]cachedUser)} }

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

func (c *userCache) put(u User, now time.Time) {
	c.mu.Lock()
	if len(c.users) >= userCacheMax {
		clear(c.users)
	}
	c.users[u.ID] = cachedUser{user: u, expires: now.Add(userCacheTTL)}
	c.mu.Unlock()
}

func (c *userCache) drop(id uint) {
	c.mu.Lock()
	delete(c.users, id)
	c.mu.Unlock()
}

func (c *userCache) clear() {
	c.mu.Lock()
	clear(c.users)
	c.mu.Unlock()
}

// ForAuth returns the user with its role for authenticating a request,
// from a short-lived cache when possible. Every write to users or roles made
// through this package invalidates it.
func (u Users) ForAuth(ctx context.Context, id uint) (User, error) {
	now := time.Now()
	if user, ok := u.cache.get(id, now); ok {
		return user, nil
	}
	user, err := u.ByID(ctx, id)
	if err != nil {
		return user, err
	}
	u.cache.put(user, now)
	return user, nil
}

// InvalidateCache drops every cached user; call it after writing users or
// roles other than through this package.
func (s *Store) InvalidateCache() {
	s.Users().cache.clear()
}
