package handlers

import (
	"encoding/json"
	"strings"
	"unicode/utf8"

	"github.com/gatehouse/gatehouse/providers"
)

// Custom providers (providers.Registry.Custom) are added, edited and removed
// with PUT /api/users-permissions/providers like the built-ins' settings:
//
//	{"providers": {"corp": {"type": "oidc", "displayName": "Corp SSO",
//	  "issuer": "https://sso.example.com", "key": "…", "secret": "…",
//	  "callback": "https://app.example.com/connect/corp/redirect", "enabled": true}}}
//
// An entry under a new name with a "type" adds one; null removes one. The
// name is a lower-case path segment (it appears in /api/connect/<name>),
// never a registered provider's, "email", "local", or a segment of another
// route under /api/auth/ or /api/connect/. The type cannot change. Secrets
// are write-only and cleared when an endpoint changes, as for the built-ins.

// maxCustomProviders bounds the custom providers, which are read on every
// OAuth request and listed on the admin page.
const maxCustomProviders = 32

// maxDisplayName bounds a custom provider's display name.
const maxDisplayName = 64

// customCommon are the fields every custom provider takes; customFields adds
// each type's own.
var customCommon = []string{"type", "displayName", "enabled", "icon", "key", "secret", "callback", "scope", "redirectUri"}

var customFields = map[string][]string{
	providers.TypeOIDC:   append(append([]string{}, customCommon...), "issuer", "emailClaim", "usernameClaim"),
	providers.TypeOAuth2: append(append([]string{}, customCommon...), "authorizeUrl", "tokenUrl", "userinfoUrl", "pkce", "idPath", "emailPath", "usernamePath", "emailVerifiedPath"),
}

// newCustomProvider starts a custom provider for an entry under a name no
// provider has: the entry must carry a known "type", the name must be
// valid and free, and there must be room (count custom providers exist).
// Without a "type" the name is simply unknown, as before custom providers.
func (s *Server) newCustomProvider(v *validator, name string, raw json.RawMessage, count int) (providers.Settings, bool) {
	path := []string{"providers", name}
	var head struct {
		Type *string `json:"type"`
	}
	if json.Unmarshal(raw, &head) != nil || head.Type == nil {
		v.addPath(path, "Unknown provider: "+clipText(name, 64))
		return providers.Settings{}, false
	}
	if _, ok := customFields[*head.Type]; !ok {
		v.addPath(append(path, "type"), "type must be one of the following values: oidc, oauth2")
		return providers.Settings{}, false
	}
	switch {
	case !providers.ValidName(name):
		v.addPath(path, "A provider name is 1 to 64 lower-case letters, digits, - or _, and not email or local")
		return providers.Settings{}, false
	case s.reservedProviderName(name):
		v.addPath(path, "The name "+name+" is taken by a route: choose another name")
		return providers.Settings{}, false
	case count >= maxCustomProviders:
		v.addPath(path, "There can be at most 32 custom providers")
		return providers.Settings{}, false
	}
	return providers.Settings{Type: *head.Type}, true
}

// reservedProviderName reports whether name is a static segment right
// after /api/auth/ or /api/connect/ in a route of the catalogue (local,
// refresh, sessions…): /api/auth/<name>/callback would reach that route's
// neighbourhood rather than the provider's.
func (s *Server) reservedProviderName(name string) bool {
	for _, fn := range s.Catalog() {
		for _, prefix := range []string{"/api/auth/", "/api/connect/"} {
			rest, ok := strings.CutPrefix(fn.Route, prefix)
			if !ok {
				continue
			}
			if seg, _, _ := strings.Cut(rest, "/"); seg == name {
				return true
			}
		}
	}
	return false
}

// decodeCustomField applies one of a custom provider's own string fields.
func decodeCustomField(v *validator, path []string, key, value string, next *providers.Settings) {
	switch key {
	case "type":
		if value != next.Type {
			v.addPath(path, "type cannot be changed: remove the provider and add it again")
		}
	case "displayName":
		if utf8.RuneCountInString(value) > maxDisplayName {
			v.addPath(path, "displayName must be at most 64 characters")
			return
		}
		next.DisplayName = value
	case "emailClaim", "usernameClaim":
		if value != "" && !providers.ValidClaimName(value) {
			v.addPath(path, key+" must be a claim name (no spaces, at most 200 characters)")
			return
		}
		if key == "emailClaim" {
			next.EmailClaim = value
		} else {
			next.UsernameClaim = value
		}
	default: // the JSON paths
		if value != "" && !providers.ValidJSONPath(value) {
			v.addPath(path, key+" must be a JSON path such as data.email or emails.0.value")
			return
		}
		switch key {
		case "idPath":
			next.IDPath = value
		case "emailPath":
			next.EmailPath = value
		case "usernamePath":
			next.UsernamePath = value
		case "emailVerifiedPath":
			next.EmailVerifiedPath = value
		}
	}
}

// checkCustomProvider adds an error for each field the custom provider's
// type requires that is missing.
func checkCustomProvider(v *validator, name string, set providers.Settings) {
	required := map[string]string{}
	switch set.Type {
	case providers.TypeOIDC:
		required["issuer"] = set.Issuer
	case providers.TypeOAuth2:
		required["authorizeUrl"], required["tokenUrl"], required["userinfoUrl"] = set.AuthorizeURL, set.TokenURL, set.UserinfoURL
		required["idPath"], required["emailPath"] = set.IDPath, set.EmailPath
	}
	for _, field := range customFields[set.Type] {
		if value, ok := required[field]; ok && value == "" {
			v.addPath([]string{"providers", name, field}, field+" is required for an "+set.Type+" provider")
		}
	}
}

// countCustom counts the custom providers among all.
func countCustom(all map[string]providers.Settings) int {
	n := 0
	for _, set := range all {
		if set.IsCustom() {
			n++
		}
	}
	return n
}

// hasField reports whether the JSON object raw has key.
func hasField(raw json.RawMessage, key string) bool {
	var fields map[string]json.RawMessage
	_ = json.Unmarshal(raw, &fields)
	_, ok := fields[key]
	return ok
}
