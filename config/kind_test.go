package config

import (
	"strconv"
	"testing"
	"time"
)

// TestVarKinds: every default reads as its kind, and a setting whose
// default looks like a bool, a number or a duration says so (its flag is
// typed after it: --rate-limit-enabled alone, --port int).
func TestVarKinds(t *testing.T) {
	for _, v := range Vars {
		if err := v.Kind.Check(v.Default); err != nil {
			t.Errorf("%s: default %q is not a %s: %v", v.Env, v.Default, v.Kind, err)
		}
		if v.Kind != String || v.Default == "" {
			continue
		}
		_, boolErr := strconv.ParseBool(v.Default)
		_, intErr := strconv.Atoi(v.Default)
		_, durErr := time.ParseDuration(v.Default)
		if boolErr == nil || intErr == nil || durErr == nil {
			t.Errorf("%s: default %q looks typed but the Var has no Kind", v.Env, v.Default)
		}
	}
}

func TestKindCheck(t *testing.T) {
	for _, tc := range []struct {
		kind  Kind
		value string
		ok    bool
	}{
		{Bool, "true", true}, {Bool, "0", true}, {Bool, "yes", false},
		{Int, "10", true}, {Int, "1e3", false},
		{Duration, "90s", true}, {Duration, "2d", false}, {Duration, "5", false},
		{Span, "30d", true}, {Span, "2 days", true}, {Span, "soon", false},
		{String, "anything", true}, {Int, "", true},
	} {
		if err := tc.kind.Check(tc.value); (err == nil) != tc.ok {
			t.Errorf("%s.Check(%q) = %v, want ok %v", tc.kind, tc.value, err, tc.ok)
		}
	}
}
