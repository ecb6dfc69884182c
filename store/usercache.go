package store

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"gorm.io/gorm"
)

// userCacheTTL bounds how long a user read for authentication may be reused
// unless SetUserCacheTTL says otherwise. Writes made through this package
// drop the entry at once (and, through the OnUserChange hook, on the other
// instances that follow the notices); the TTL bounds staleness for writes
// whose notice was lost and for writes made by another process sharing the
// database.
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
	ttl        time.Duration
	// onChange is the OnUserChange hook (nil: none).
	onChange atomic.Pointer[func(id uint)]
	// hits and misses count ForAuth's lookups, for the metrics.
	hits, misses atomic.Uint64
}

func newUserCache() *userCache {
	return &userCache{users: make(map[uint]cachedUser), roles: make(map[uint]cachedRole), ttl: userCacheTTL}
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
		c.roles[r.ID] = cachedRole{role: r, expires: now.Add(c.ttl)}
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
		c.users[u.ID] = cachedUser{user: u, expires: now.Add(c.ttl)}
	}
	c.mu.Unlock()
}

// drop is called after every write through this package that touches the
// user (once the write has returned, so after its commit): it forgets the
// user and calls the OnUserChange hook.
func (c *userCache) drop(id uint) {
	c.forget(id)
	if hook := c.onChange.Load(); hook != nil {
		(*hook)(id)
	}
}

// forget drops the user's entry, and any read of it in flight.
func (c *userCache) forget(id uint) {
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
		u.cache.hits.Add(1)
		return user, nil
	}
	u.cache.misses.Add(1)
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
	user, err := u.withCustom(ctx, user, nil)
	if err != nil {
		return User{}, err
	}
	u.cache.put(user, now, gen)
	return user, nil
}

// UserCacheStats counts the lookups of users for authentication (ForAuth)
// answered from the cache, and those that read the database.
func (s *Store) UserCacheStats() (hits, misses uint64) {
	c := s.Users().cache
	return c.hits.Load(), c.misses.Load()
}

// InvalidateCache drops every cached user; call it after writing users or
// roles other than through this package.
func (s *Store) InvalidateCache() {
	s.Users().cache.clear()
}

// InvalidateUser drops the user from the cache, without calling the
// OnUserChange hook: call it when another instance announces a write to the
// user.
func (s *Store) InvalidateUser(id uint) {
	s.Users().cache.forget(id)
}

// OnUserChange sets the hook called with the user's id after each write to
// a user made through this store that the authentication cache cares about
// — Update, Delete, and the token writes (a password reset, an email
// confirmation) — once the write has returned, on the caller's goroutine,
// so it should be quick (cluster.UserChanged publishes a notice). It is also
// called when such a write failed: the hook says "look again", never what
// changed. Creating a user calls nothing (no instance can have it cached). A
// later call replaces the hook; nil removes it.
func (s *Store) OnUserChange(hook func(id uint)) {
	c := s.Users().cache
	if hook == nil {
		c.onChange.Store(nil)
		return
	}
	c.onChange.Store(&hook)
}

// SetUserCacheTTL sets how long a user read for authentication may be reused
// (2s unless set), from the next read on. It bounds how stale an instance's
// view of a user written elsewhere can be when no notice reaches it.
func (s *Store) SetUserCacheTTL(ttl time.Duration) {
	c := s.Users().cache
	c.mu.Lock()
	c.ttl = ttl
	c.mu.Unlock()
}
