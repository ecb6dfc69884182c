package providers

import (
	"fmt"
	"slices"
	"sync"
)

// Registry is a set of providers by name. The zero value is not usable; use
// NewRegistry. It is safe for concurrent use.
type Registry struct {
	mu     sync.RWMutex
	byName map[string]Provider
	// customOIDC is the discovery cache of the custom OpenID Connect
	// providers (Custom), by issuer.
	customOIDC *oidcResolver
}

// NewRegistry returns a registry holding ps; a later provider replaces an
// earlier one of the same name. It panics on an invalid name, which is a
// programming error (use Add to handle it).
//
//	reg := providers.NewRegistry(providers.Defaults()...)
//	err := reg.Add(providers.NewOIDC("corp", "https://sso.example.com"))
func NewRegistry(ps ...Provider) *Registry {
	r := &Registry{byName: make(map[string]Provider, len(ps)), customOIDC: &oidcResolver{cache: map[string]*discovered{}}}
	for _, p := range ps {
		if err := r.Add(p); err != nil {
			panic(err)
		}
	}
	return r
}

// Add registers p, replacing a provider of the same name. The name must be a
// lower-case URL path segment ([a-z0-9_-]) other than "email", the
// local-login toggle, and "local", the provider of password users (an OAuth
// provider of that name would sign in as them).
func (r *Registry) Add(p Provider) error {
	if !ValidName(p.Name) {
		return fmt.Errorf("providers: add %q: name must match [a-z0-9_-]+ and not be %q or %q", p.Name, Email, Local)
	}
	if p.Profile == nil && !p.isOIDC() {
		return fmt.Errorf("providers: add %q: no profile function", p.Name)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.byName[p.Name] = p
	return nil
}

// Get returns the provider called name, or an *Error wrapping
// ErrUnknownProvider ("Unknown auth provider").
func (r *Registry) Get(name string) (Provider, error) {
	r.mu.RLock()
	p, ok := r.byName[name]
	r.mu.RUnlock()
	if !ok {
		return Provider{}, fmt.Errorf("providers: %q: %w", name,
			&Error{Kind: ErrUnknownProvider, Message: "Unknown auth provider"})
	}
	return p, nil
}

// Names returns the registered names, sorted.
func (r *Registry) Names() []string {
	r.mu.RLock()
	defer r.mu.RUnlock()
	names := make([]string, 0, len(r.byName))
	for n := range r.byName {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// DefaultSettings returns the grant-store defaults for the registered
// providers plus the "email" toggle (see the package function).
func (r *Registry) DefaultSettings(baseURL string) map[string]Settings {
	r.mu.RLock()
	defer r.mu.RUnlock()
	m := map[string]Settings{Email: emailSettings()}
	for n, p := range r.byName {
		m[n] = p.DefaultSettings(baseURL)
	}
	return m
}

// ValidName reports whether n can name a provider: a lower-case URL path
// segment ([a-z0-9_-], at most 64 bytes) other than "email" and "local".
func ValidName(n string) bool {
	if n == "" || n == Email || n == Local || len(n) > 64 {
		return false
	}
	for _, c := range n {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}
