package main

import (
	"fmt"
	"runtime"
	"runtime/debug"
	"strings"

	"github.com/spf13/cobra"
)

// version is set at build time: go build -ldflags "-X main.version=v1.2.3".
var version = "dev"

func init() { addCommand(newVersionCmd) }

func newVersionCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the drill version, the VCS revision it was built from, and Go's version",
		Long: `Version prints one line: the drill version, then in parentheses the VCS
revision the binary was built from, its commit time and whether the work tree
had uncommitted changes (from the build info go build records), then the Go
version and platform. A binary built without VCS information (-buildvcs=false,
or outside a repository) says the revision is unknown. drill --version prints
the same line.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			_, err := fmt.Fprintln(cmd.OutOrStdout(), versionLine())
			return err
		},
	}
}

// versionLine is the line drill version and drill --version print, from
// this binary's build info.
func versionLine() string {
	bi, _ := debug.ReadBuildInfo() // nil when the binary has none
	return formatVersion(version, bi, runtime.Version(), runtime.GOOS+"/"+runtime.GOARCH)
}

// toolVersion is what reports record as the drill's version: the version
// and, when the build info has it, the short revision ("+dirty" for a
// modified work tree), e.g. "dev+0a1b2c3d4e5f".
func toolVersion() string {
	bi, _ := debug.ReadBuildInfo()
	return shortVersion(version, bi)
}

// shortVersion renders v with the build info's short VCS revision.
func shortVersion(v string, bi *debug.BuildInfo) string {
	if bi == nil {
		return v
	}
	if mv := bi.Main.Version; v == "dev" && mv != "" && mv != "(devel)" {
		v = mv
	}
	var rev, dirty string
	for _, s := range bi.Settings {
		switch {
		case s.Key == "vcs.revision":
			rev = s.Value
		case s.Key == "vcs.modified" && s.Value == "true":
			dirty = "+dirty"
		}
	}
	if rev == "" {
		return v
	}
	return v + "+" + rev[:min(12, len(rev))] + dirty
}

// formatVersion renders "drill V (revision R, T, modified|clean) GO
// PLATFORM". v is the -ldflags version; while it is "dev", the module
// version go build recorded (a tag or pseudo-version) is used instead.
// bi may be nil (no build info).
func formatVersion(v string, bi *debug.BuildInfo, goVersion, platform string) string {
	var rev, at, modified string
	if bi != nil {
		if mv := bi.Main.Version; v == "dev" && mv != "" && mv != "(devel)" {
			v = mv
		}
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				rev = s.Value
			case "vcs.time":
				at = s.Value
			case "vcs.modified":
				modified = s.Value
			}
		}
	}
	var b strings.Builder
	fmt.Fprintf(&b, "drill %s (", v)
	if rev == "" {
		b.WriteString("revision unknown: built without VCS information")
	} else {
		b.WriteString("revision " + rev)
		if at != "" {
			b.WriteString(", " + at)
		}
		switch modified {
		case "true":
			b.WriteString(", modified")
		case "false":
			b.WriteString(", clean")
		}
	}
	fmt.Fprintf(&b, ") %s %s", goVersion, platform)
	return b.String()
}
