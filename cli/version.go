package cli

import (
	"fmt"
	"runtime/debug"
	"strings"

	"github.com/spf13/cobra"
)

// modulePath is Gatehouse's module, found in the build info of an app that
// embeds it too.
const modulePath = "github.com/gatehouse/gatehouse"

// VersionCommand is `version`: what Version says.
func VersionCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the version, VCS revision and Go version of this binary",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			_, err := fmt.Fprintln(cmd.OutOrStdout(), "gatehouse "+Version())
			return err
		},
	}
}

// Version describes the running binary from runtime/debug.ReadBuildInfo:
// Gatehouse's module version ("(devel)" for a build outside a version
// control checkout), then the VCS revision and time of the build's main
// module, "modified" when its tree had uncommitted changes, and the Go
// version: "v1.2.0 (revision 0123456789ab, 2026-12-01T10:00:00Z, go1.26.8)".
func Version() string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "unknown (no build information)"
	}
	return describe(bi)
}

func describe(bi *debug.BuildInfo) string {
	version := bi.Main.Version
	if bi.Main.Path != modulePath {
		version = "unknown"
		for _, dep := range bi.Deps {
			if dep.Path == modulePath {
				version = dep.Version
				if dep.Replace != nil {
					version += " => " + dep.Replace.Path
					if dep.Replace.Version != "" {
						version += " " + dep.Replace.Version
					}
				}
			}
		}
		version += " in " + bi.Main.Path
		if bi.Main.Version != "" {
			version += " " + bi.Main.Version
		}
	}
	if version == "" {
		version = "(devel)"
	}
	settings := map[string]string{}
	for _, s := range bi.Settings {
		settings[s.Key] = s.Value
	}
	var details []string
	if rev := settings["vcs.revision"]; rev != "" {
		details = append(details, "revision "+rev[:min(len(rev), 12)])
	} else {
		details = append(details, "revision unknown")
	}
	if t := settings["vcs.time"]; t != "" {
		details = append(details, t)
	}
	if settings["vcs.modified"] == "true" {
		details = append(details, "modified")
	}
	details = append(details, bi.GoVersion)
	return version + " (" + strings.Join(details, ", ") + ")"
}
