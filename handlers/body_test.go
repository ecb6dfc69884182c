package handlers

import "testing"

// TestMalformedJSONIsSyntaxError: every endpoint that reads a JSON body
// answers a body that is not JSON with Strapi's 400 SyntaxError, whoever
// calls, before any other check.
func TestMalformedJSONIsSyntaxError(t *testing.T) {
	endpoints := []struct{ method, url, caller string }{
		{"POST", "/api/auth/local", ""},
		{"POST", "/api/auth/local/register", ""},
		{"POST", "/api/auth/forgot-password", ""},
		{"POST", "/api/auth/reset-password", ""},
		{"POST", "/api/auth/send-email-confirmation", ""},
		{"POST", "/api/auth/change-password", "authenticated"},
		{"POST", "/api/users", "admin"},
		{"PUT", "/api/users/1", "admin"},
		{"POST", "/api/users-permissions/roles", "admin"},
		{"PUT", "/api/users-permissions/roles/1", "admin"},
		{"PUT", "/api/users-permissions/advanced", "admin"},
		{"PUT", "/api/users-permissions/providers", "admin"},
		{"PUT", "/api/users-permissions/email-templates", "admin"},
		{"POST", "/api/users-permissions/policy/check", "admin"},
	}
	bodies := []struct{ name, body, message string }{
		{"cut short", `{"email":`, "Invalid JSON: unexpected EOF"},
		{"not JSON", `{email: 1}`, "Invalid JSON: invalid character 'e' looking for beginning of object key string"},
		{"data after the object", `{} {}`, "Invalid JSON: unexpected data after the object"},
		{"invalid UTF-8", "{\"email\":\"\xff\"}", "Invalid JSON: body is not valid UTF-8"},
	}
	var scenarios []scenario
	for _, ep := range endpoints {
		for _, b := range bodies {
			scenarios = append(scenarios, scenario{name: ep.method + " " + ep.url + ": " + b.name,
				method: ep.method, url: ep.url, caller: ep.caller, body: b.body,
				wantStatus: 400, want: []string{errorJSONFor(400, "SyntaxError", b.message)}})
		}
	}
	runScenarios(t, scenarios)
}
