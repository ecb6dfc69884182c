package policy

import "strings"

// Function is one route's entry in the catalogue: its action name in
// Strapi's style (plugin::users-permissions.user.me, api::post.post.find),
// the HTTP method and the route pattern as registered.
type Function struct {
	Name   string `json:"handler"`
	Method string `json:"method"`
	Route  string `json:"path"`
}

// Type is the part of the name before the controller: "plugin::users-permissions"
// or "api::post".
func (f Function) Type() string {
	t, _, _ := f.split()
	return t
}

// Controller is the controller part of the name ("user" in plugin::users-permissions.user.me).
func (f Function) Controller() string {
	_, c, _ := f.split()
	return c
}

// Action is the last part of the name ("me").
func (f Function) Action() string {
	_, _, a := f.split()
	return a
}

// split parses "<scheme>::<api>.<controller>.<action>".
func (f Function) split() (typ, controller, action string) {
	scheme, rest, ok := strings.Cut(f.Name, "::")
	if !ok {
		return "", "", f.Name
	}
	api, rest, _ := strings.Cut(rest, ".")
	typ = scheme + "::" + api
	controller, action, ok = strings.Cut(rest, ".")
	if !ok {
		return typ, "", controller
	}
	return typ, controller, action
}
