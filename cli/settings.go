package cli

import (
	"fmt"

	"github.com/gatehouse/gatehouse/config"
	"github.com/spf13/pflag"
)

// BindSettings adds a typed flag for each setting to fs (bool, int,
// duration or string, after the setting's config.Kind), defaulting to its
// environment variable, then to the built-in default, and returns the loader
// of the parsed Config. Help shows the real default; a secret's is shown as
// "(set)" when it comes from the environment. Settings not bound take their
// built-in defaults, whatever the environment says.
func BindSettings(fs *pflag.FlagSet, lookupEnv func(string) (string, bool), vars ...config.Var) func() (config.Config, error) {
	values := make(map[string]*setting, len(vars))
	for _, v := range vars {
		s := &setting{kind: v.Kind, value: v.Default}
		shown := v.Default
		if env, ok := lookupEnv(v.Env); ok {
			s.value, shown = env, env
			if v.Secret && env != "" {
				shown = "(set)"
			}
		}
		values[v.Env] = s
		f := fs.VarPF(s, v.Flag, "", fmt.Sprintf("%s [$%s]", v.Usage, v.Env))
		f.DefValue = shown
		if v.Kind == config.Bool {
			f.NoOptDefVal = "true" // --flag alone is --flag=true
		}
	}
	return func() (config.Config, error) {
		m := make(map[string]string, len(values))
		for env, s := range values {
			m[env] = s.value
		}
		return config.Parse(m)
	}
}

// settingVars returns the settings named, in config.Vars' order.
func settingVars(envs ...string) []config.Var {
	var vars []config.Var
	for _, v := range config.Vars {
		for _, env := range envs {
			if v.Env == env {
				vars = append(vars, v)
			}
		}
	}
	return vars
}

// setting is a flag's value: checked against its kind when set, parsed with
// the others by config.Parse.
type setting struct {
	kind  config.Kind
	value string
}

func (s *setting) String() string { return s.value }

func (s *setting) Set(v string) error {
	if err := s.kind.Check(v); err != nil {
		return err
	}
	s.value = v
	return nil
}

func (s *setting) Type() string { return s.kind.String() }

// IsBoolFlag tells pflag a bool setting's flag needs no value.
func (s *setting) IsBoolFlag() bool { return s.kind == config.Bool }
