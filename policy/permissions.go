package policy

// Action is one entry of Strapi's permissions map.
type Action struct {
	Enabled bool   `json:"enabled"`
	Policy  string `json:"policy"`
}

// Controllers is Strapi's {controllers: {<ctrl>: {<action>: Action}}}.
type Controllers struct {
	Controllers map[string]map[string]Action `json:"controllers"`
}

// Permissions is Strapi's nested permissions map, by type
// ("plugin::users-permissions", "api::post").
type Permissions map[string]Controllers

// PermissionsOf builds the map over the catalogue with enabled set where the
// role may call the function's route.
func (e *Enforcer) PermissionsOf(role string, catalog Catalog) (Permissions, error) {
	perms := Permissions{}
	for _, fn := range catalog {
		allowed := false
		if role != "" {
			var err error
			if allowed, err = e.Allow(role, fn.Route, fn.Method); err != nil {
				return nil, err
			}
		}
		t := perms[fn.Type()]
		if t.Controllers == nil {
			t.Controllers = map[string]map[string]Action{}
		}
		ctrl := t.Controllers[fn.Controller()]
		if ctrl == nil {
			ctrl = map[string]Action{}
		}
		// One action may back several routes (auth.callback, auth.connect):
		// it is enabled when any of them is.
		prev := ctrl[fn.Action()]
		ctrl[fn.Action()] = Action{Enabled: prev.Enabled || allowed}
		t.Controllers[fn.Controller()] = ctrl
		perms[fn.Type()] = t
	}
	return perms, nil
}

// Enabled lists the names of the functions the map enables.
func (p Permissions) Enabled() map[string]bool {
	out := map[string]bool{}
	for typ, t := range p {
		for ctrl, actions := range t.Controllers {
			for action, a := range actions {
				if a.Enabled {
					out[typ+"."+ctrl+"."+action] = true
				}
			}
		}
	}
	return out
}

// Disabled lists the names of the functions the map explicitly disables
// (enabled:false), as opposed to leaving them out.
func (p Permissions) Disabled() map[string]bool {
	out := map[string]bool{}
	for typ, t := range p {
		for ctrl, actions := range t.Controllers {
			for action, a := range actions {
				if !a.Enabled {
					out[typ+"."+ctrl+"."+action] = true
				}
			}
		}
	}
	return out
}
