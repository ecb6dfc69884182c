package handlers

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strings"

	"github.com/gatehouse/gatehouse/providers"
	"github.com/gatehouse/gatehouse/store"
	"github.com/gin-gonic/gin"
)

// secretMask stands for a stored provider secret in GET answers; sent back
// in a PUT it keeps the stored secret. Secrets are write-only.
const secretMask = "••••••••"

// providerSettings returns the grant store (spec §4.4, §7) of every
// registered provider and the "email" toggle: Strapi's defaults (callbacks
// under PUBLIC_URL/api/auth) with the stored fields decoded over them; and
// the custom providers an admin defined (stored entries with a type, under
// a name no registered provider has). The grant store is one settings
// document, so custom providers reach every instance as the other provider
// settings do (the settings revision and its notices).
func (s *Server) providerSettings(c context.Context) (map[string]providers.Settings, error) {
	all := s.registry().DefaultSettings(s.cfg.PublicURL + "/api/auth")
	var stored map[string]json.RawMessage
	if _, err := s.store.Settings().Get(c, store.KeyGrant, &stored); err != nil {
		return nil, err
	}
	for name, raw := range stored {
		if string(raw) == "null" {
			continue
		}
		def, registered := all[name]
		if err := json.Unmarshal(raw, &def); err != nil {
			return nil, fmt.Errorf("handlers: provider settings %s: %w", name, err)
		}
		switch {
		case registered:
			def.Type = "" // a built-in stays a built-in
			all[name] = def
		case def.IsCustom() && providers.ValidName(name):
			all[name] = def
		}
		// Anything else (a provider no longer registered) is kept as
		// stored, unused.
	}
	return all, nil
}

// providerSetting returns one provider's settings (see providerSettings);
// known is false when there is no such provider.
func (s *Server) providerSetting(c context.Context, name string) (set providers.Settings, known bool, err error) {
	all, err := s.providerSettings(c)
	if err != nil {
		return providers.Settings{}, false, err
	}
	set, known = all[name]
	return set, known, nil
}

// getProviders is GET /api/users-permissions/providers (admin): Strapi's
// grant store map, each OAuth provider with its redirectUri, and secrets
// masked (Strapi returns them; Gatehouse never does).
func (s *Server) getProviders(c *gin.Context) error {
	all, err := s.providerSettings(ctx(c))
	if err != nil {
		return err
	}
	out := make(map[string]map[string]any, len(all))
	for name, set := range all {
		raw, err := json.Marshal(set)
		if err != nil {
			return errInternal("handlers: providers: %w", err)
		}
		var m map[string]any
		if err := json.Unmarshal(raw, &m); err != nil {
			return errInternal("handlers: providers: %w", err)
		}
		if name != providers.Email {
			if set.Secret != "" {
				m["secret"] = secretMask
			}
			m["redirectUri"] = s.redirectURI(name)
		}
		out[name] = m
	}
	c.Header("Cache-Control", "no-store")
	return writeJSON(c, http.StatusOK, out)
}

// updateProviders is PUT /api/users-permissions/providers (admin), body
// {"providers": {<name>: {enabled, key, secret, callback, scope, …}}}.
// Entries replace the stored fields they name; absent providers and fields
// keep their values, and a masked secret keeps the stored one unless an
// endpoint changes (endpointsChanged), which clears it. An entry under a
// new name with a "type" adds a custom provider (settings_providers_custom.go);
// null removes one. Unknown providers or fields, wrong types and bad URLs
// are 400.
func (s *Server) updateProviders(c *gin.Context) error {
	b, err := readBody(c)
	if err != nil {
		return err
	}
	if len(b) == 0 {
		return ValidationError("Request body cannot be empty", nil)
	}
	if unknown := b.unknownKeys("providers"); len(unknown) > 0 {
		return ValidationError("Invalid parameters: "+strings.Join(unknown, ", "), nil)
	}
	var entries map[string]json.RawMessage
	if err := json.Unmarshal(b["providers"], &entries); err != nil || entries == nil {
		return ValidationError("providers must be an `object` type", nil)
	}
	current, err := s.providerSettings(ctx(c))
	if err != nil {
		return err
	}
	names := make([]string, 0, len(entries))
	for name := range entries {
		names = append(names, name)
	}
	sort.Strings(names)
	var v validator
	updated := map[string]providers.Settings{}
	var newlyEnabled, removed []string
	customs := countCustom(current)
	for _, name := range names {
		raw := entries[name]
		cur, known := current[name]
		if string(raw) == "null" {
			// null removes a custom provider; the others stay.
			switch {
			case known && cur.IsCustom():
				removed = append(removed, name)
			case known:
				v.addPath([]string{"providers", name}, "Only custom providers can be removed")
			default:
				v.addPath([]string{"providers", name}, "Unknown provider: "+clipText(name, 64))
			}
			continue
		}
		if !known {
			var ok bool
			if cur, ok = s.newCustomProvider(&v, name, raw, customs); !ok {
				continue
			}
			customs++
		} else if !cur.IsCustom() && hasField(raw, "type") {
			v.addPath([]string{"providers", name, "type"}, "A built-in provider is called "+name+": choose another name")
			continue
		}
		next := decodeProviderEntry(&v, name, raw, cur)
		if next.IsCustom() {
			checkCustomProvider(&v, name, next)
		}
		if name != providers.Email && next.Enabled {
			if next.Key == "" {
				v.addPath([]string{"providers", name, "key"}, "key is required when the provider is enabled")
			}
			if next.Callback == "" {
				v.addPath([]string{"providers", name, "callback"}, "callback is required when the provider is enabled")
			}
		}
		if next.Enabled && !cur.Enabled && name != providers.Email {
			newlyEnabled = append(newlyEnabled, name)
		}
		updated[name] = next
	}
	if err := v.err(); err != nil {
		return err
	}
	// Entries of providers no longer registered are kept as stored.
	var stored map[string]json.RawMessage
	if _, err := s.store.Settings().Get(ctx(c), store.KeyGrant, &stored); err != nil {
		return err
	}
	doc := make(map[string]any, len(current)+len(stored))
	for name, raw := range stored {
		doc[name] = raw
	}
	for name, set := range current {
		doc[name] = set
	}
	for name, set := range updated {
		doc[name] = set
	}
	for _, name := range removed {
		delete(doc, name)
	}
	if err := s.store.Settings().Put(ctx(c), store.KeyGrant, doc); err != nil {
		return err
	}
	s.log.InfoContext(ctx(c), "provider settings updated", "providers", names)
	s.Audit(s.changeCtx(c, ""), "settings.providers", "settings:providers", providersSummary(entries, updated, removed))
	if len(newlyEnabled) > 0 {
		s.warnGuessedPublicURL(ctx(c), newlyEnabled)
	}
	return writeJSON(c, http.StatusOK, gin.H{"ok": true})
}

// addPath adds a field error at a nested path (no value: it could be a secret).
func (v *validator) addPath(path []string, message string) {
	v.errs = append(v.errs, fieldError{Path: path, Message: message, Name: "ValidationError"})
}

// providerFields are the fields a provider entry may carry; "email" takes
// only enabled and icon. redirectUri is read-only and ignored.
var providerFields = []string{
	"enabled", "icon", "key", "secret", "callback", "callbackUrl", "scope", "subdomain",
	"jwksurl", "issuer", "authorizeUrl", "tokenUrl", "apiUrl", "redirectUri",
}

// decodeProviderEntry applies one PUT entry over cur, adding an error to v
// for each field that is unknown or invalid.
func decodeProviderEntry(v *validator, name string, raw json.RawMessage, cur providers.Settings) providers.Settings {
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(raw, &fields); err != nil || fields == nil {
		v.addPath([]string{"providers", name}, name+" must be an `object` type")
		return cur
	}
	allowed := providerFields
	switch {
	case name == providers.Email:
		allowed = []string{"enabled", "icon"}
	case cur.IsCustom():
		allowed = customFields[cur.Type]
	}
	keys := make([]string, 0, len(fields))
	for k := range fields {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	next := cur
	next.Scope = slices.Clone(cur.Scope)
	newSecret := false
	for _, k := range keys {
		path := []string{"providers", name, k}
		val := fields[k]
		if !slices.Contains(allowed, k) {
			v.addPath([]string{"providers", name}, "this field has unspecified keys: "+clipText(k, 64))
			continue
		}
		if string(val) == "null" {
			continue
		}
		typeErr := func(want string) { v.addPath(path, k+" must be a `"+want+"` type") }
		switch k {
		case "enabled":
			if json.Unmarshal(val, &next.Enabled) != nil {
				typeErr("boolean")
			}
		case "pkce":
			var on bool
			if json.Unmarshal(val, &on) != nil {
				typeErr("boolean")
				continue
			}
			next.PKCE = &on
		case "scope":
			var sc []string
			if json.Unmarshal(val, &sc) != nil {
				typeErr("array of strings")
				continue
			}
			next.Scope = sc
		default:
			var str string
			if json.Unmarshal(val, &str) != nil {
				typeErr("string")
				continue
			}
			str = strings.TrimSpace(str)
			switch k {
			case "icon":
				next.Icon = str
			case "key":
				next.Key = str
			case "secret":
				if str != secretMask {
					next.Secret = str
					newSecret = true
				}
			case "callback", "callbackUrl":
				if str != "" && !validFrontendCallback(str) {
					v.addPath(path, k+" must be an absolute URL (http, https or an app scheme)")
					continue
				}
				if k == "callback" {
					next.Callback = str
				} else {
					next.CallbackURL = str
				}
			case "subdomain":
				if strings.ContainsAny(str, "?#@\\ \t\r\n") || strings.Contains(str, "://") {
					v.addPath(path, "subdomain must be a host name, optionally with a path")
					continue
				}
				next.Subdomain = str
			case "type", "displayName", "emailClaim", "usernameClaim", "idPath", "emailPath", "usernamePath", "emailVerifiedPath":
				decodeCustomField(v, path, k, str, &next)
			case "jwksurl", "issuer", "authorizeUrl", "tokenUrl", "apiUrl", "userinfoUrl":
				if str != "" && !validEndpoint(str) {
					v.addPath(path, k+" must be an absolute http(s) URL")
					continue
				}
				switch k {
				case "jwksurl":
					next.JWKSURL = str
				case "issuer":
					next.Issuer = str
				case "authorizeUrl":
					next.AuthorizeURL = str
				case "tokenUrl":
					next.TokenURL = str
				case "apiUrl":
					next.APIURL = str
				case "userinfoUrl":
					next.UserinfoURL = str
				}
			}
		}
	}
	if !newSecret && endpointsChanged(cur, next) {
		// The secret was given for the old endpoints: sending it to new
		// ones would hand it to whoever runs them (the mask sent back
		// with another tokenUrl did). It takes a new secret, sent with
		// the change, to keep one.
		next.Secret = ""
	}
	return next
}

// endpointsChanged reports whether the provider's secret would go to, or be
// vouched for by, another server: any endpoint, the issuer, the JWKS or the
// subdomain (the host of Auth0, Cognito and Keycloak) differs; or a custom
// provider's userinfo endpoint, which receives the access token.
func endpointsChanged(cur, next providers.Settings) bool {
	return cur.AuthorizeURL != next.AuthorizeURL || cur.TokenURL != next.TokenURL || cur.APIURL != next.APIURL ||
		cur.Issuer != next.Issuer || cur.JWKSURL != next.JWKSURL || cur.Subdomain != next.Subdomain ||
		cur.UserinfoURL != next.UserinfoURL
}

// validEndpoint accepts an absolute http(s) URL with a host and no user info.
func validEndpoint(raw string) bool {
	u, err := url.Parse(raw)
	return err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != "" && u.User == nil &&
		!strings.ContainsAny(raw, " \t\r\n\\")
}

// validFrontendCallback accepts what providers.ValidateCallback can compare
// (absolute, a host, no user info, nothing browsers parse differently), with
// http, https or an application's own scheme (myapp://…), never a scheme
// that runs or embeds content.
func validFrontendCallback(raw string) bool {
	if providers.ValidateCallback(raw, raw) != nil {
		return false
	}
	u, _ := url.Parse(raw)
	switch strings.ToLower(u.Scheme) {
	case "javascript", "data", "vbscript", "file", "blob", "about", "filesystem":
		return false
	}
	return true
}
