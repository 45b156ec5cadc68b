package main

import (
	"cmp"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"github.com/aiuptime/aiuptime/chaos"
	"github.com/aiuptime/aiuptime/plans"
	"github.com/aiuptime/aiuptime/reports"
	"github.com/aiuptime/aiuptime/stack/stackfile"
)

// Shell completion of flag values and arguments, on top of cobra's
// generated `drill completion bash|zsh|fish|powershell` (which completes
// commands and flag names through the hidden __complete command). Flags
// are matched by name across the whole tree, so a flag a command file adds
// later is completed without that file knowing.

// yamlExts are the extensions of plan and stack files.
var yamlExts = []string{".yaml", ".yml"}

// embeddedStackCommands are the commands whose --stack also takes
// "embedded" (stackfile.LoadOrEmbedded); the others attach to a running
// deployment and need a file.
var embeddedStackCommands = map[string]bool{"drill run": true, "drill validate": true, "drill stack up": true}

// flagCompletions completes the value of a flag by its name.
var flagCompletions = map[string]cobra.CompletionFunc{
	"stack":             completeStack,
	"out":               completeDirs,
	"state-dir":         completeDirs,
	"state":             completeDirs,
	"model-host-dir":    completeDirs,
	"script":            completeExt("js"),
	"kind":              completeFaultKinds,
	"progress":          completeFixed("auto", "always", "never"),
	"image-pull-policy": completeFixed("Always", "IfNotPresent", "Never"),
	"only":              completeList("all", "models", "data"),
	"images":            completeKeys("model", "gateway"),
	"threshold":         completeKeys(trendMetrics...),
	"tolerance":         completeKeys(trendMetrics...),
	"direction":         completeKeys(trendMetrics...),
	"critical":          completeList(append(slices.Clone(trendMetrics), "none")...),
	"alpha":             completeFixed("0.01", "0.05", "0.1"),
	"min-runs":          completeFixed("3", "5", "10"),
	"min-span":          completeFixed("24h", "72h", "168h", "720h"),
	"level":             completeFixed("0.8", "0.9", "0.95"),
	"api-key-env":       completeEnvNames,
	"run":               cobra.NoFileCompletions,
	"target":            cobra.NoFileCompletions,
	"namespace":         cobra.NoFileCompletions,
}

// trendMetrics are the metrics --threshold of drill report --trend takes.
var trendMetrics = []string{
	reports.MetricNameAvailability, reports.MetricNameErrorRate, reports.MetricNameLatencyP50,
	reports.MetricNameLatencyP95, reports.MetricNameLatencyP99, reports.MetricNameTTFTP95,
	reports.MetricNameMTTR, reports.MetricNameOutages,
}

// argCompletions completes the arguments of a command by its path.
var argCompletions = map[string]cobra.CompletionFunc{
	"drill run":      completePlans(1),
	"drill validate": completePlans(0),
	"drill report":   completeDirs,
	"drill restore":  completeDirs,
}

// addCompletions attaches flagCompletions and argCompletions to every
// command below root. A flag that already has a completion function keeps
// it; a --stack flag loses its file-extension annotation, which cobra
// would otherwise answer before any function.
func addCompletions(root *cobra.Command) {
	walk(root, func(c *cobra.Command) {
		if f, ok := argCompletions[c.CommandPath()]; ok {
			c.ValidArgsFunction = f
		}
		for name, f := range flagCompletions {
			fl := c.NonInheritedFlags().Lookup(name)
			if fl == nil {
				continue
			}
			if _, has := c.GetFlagCompletionFunc(name); has {
				continue
			}
			if name == "stack" {
				delete(fl.Annotations, cobra.BashCompFilenameExt)
			}
			_ = c.RegisterFlagCompletionFunc(name, f) // cannot fail: the flag exists and has no function
		}
	})
}

// walk calls f on cmd and every command below it.
func walk(cmd *cobra.Command, f func(*cobra.Command)) {
	f(cmd)
	for _, c := range cmd.Commands() {
		walk(c, f)
	}
}

// completeFixed completes one of values.
func completeFixed(values ...string) cobra.CompletionFunc {
	return cobra.FixedCompletions(values, cobra.ShellCompDirectiveNoFileComp)
}

// completeList completes a comma-separated list of values: the values not
// yet listed, after what is already typed.
func completeList(values ...string) cobra.CompletionFunc {
	return func(_ *cobra.Command, _ []string, toComplete string) ([]string, cobra.ShellCompDirective) {
		i := strings.LastIndex(toComplete, ",") + 1
		done := strings.Split(toComplete[:i], ",")
		var out []string
		for _, v := range values {
			if !slices.Contains(done, v) {
				out = append(out, toComplete[:i]+v)
			}
		}
		return out, cobra.ShellCompDirectiveNoFileComp
	}
}

// completeKeys completes KEY= for flags taking KEY=VALUE.
func completeKeys(keys ...string) cobra.CompletionFunc {
	return func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
		out := make([]string, len(keys))
		for i, k := range keys {
			out[i] = k + "="
		}
		return out, cobra.ShellCompDirectiveNoFileComp | cobra.ShellCompDirectiveNoSpace
	}
}

// completeFaultKinds completes the registered fault kinds with their
// descriptions.
func completeFaultKinds(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
	var out []string
	for _, k := range chaos.Kinds() {
		out = append(out, cobra.CompletionWithDesc(k.Name, k.Description))
	}
	return out, cobra.ShellCompDirectiveNoFileComp
}

// completeEnvNames completes the names (never the values) of the
// environment's variables.
func completeEnvNames(_ *cobra.Command, _ []string, toComplete string) ([]string, cobra.ShellCompDirective) {
	var out []string
	for _, kv := range os.Environ() {
		if name, _, _ := strings.Cut(kv, "="); name != "" && strings.HasPrefix(name, toComplete) {
			out = append(out, name)
		}
	}
	slices.Sort(out)
	return out, cobra.ShellCompDirectiveNoFileComp
}

// completeDirs completes directories.
func completeDirs(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
	return nil, cobra.ShellCompDirectiveFilterDirs
}

// completeExt completes files with the extension ext and directories.
func completeExt(ext string) cobra.CompletionFunc {
	return func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
		return []string{ext}, cobra.ShellCompDirectiveFilterFileExt
	}
}

// completeStack completes stack files (*.yaml, *.yml, and directories to
// find them in) and, where the command takes it, "embedded".
func completeStack(cmd *cobra.Command, _ []string, toComplete string) ([]string, cobra.ShellCompDirective) {
	out, dir := yamlPaths(toComplete)
	if embeddedStackCommands[cmd.CommandPath()] && strings.HasPrefix(stackfile.Embedded, toComplete) {
		out = append([]string{cobra.CompletionWithDesc(stackfile.Embedded, "the stack drill starts itself")}, out...)
	}
	return out, dir
}

// completePlans completes plan arguments: the shipped plans by name and
// plan files; max > 0 is how many arguments the command takes.
func completePlans(max int) cobra.CompletionFunc {
	return func(_ *cobra.Command, args []string, toComplete string) ([]string, cobra.ShellCompDirective) {
		if max > 0 && len(args) >= max {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		var out []string
		for _, n := range plans.Names() {
			if name := strings.TrimSuffix(n, ".yaml"); strings.HasPrefix(name, toComplete) {
				out = append(out, cobra.CompletionWithDesc(name, "shipped plan"))
			}
		}
		files, dir := yamlPaths(toComplete)
		return append(out, files...), dir
	}
}

// yamlPaths lists what completes toComplete toward a YAML file: the
// matching *.yaml and *.yml files, and the matching directories with a
// trailing slash (hidden ones only when asked for with a leading dot). The
// directive keeps the shell from adding its own files, and from adding a
// space after a directory.
func yamlPaths(toComplete string) ([]string, cobra.ShellCompDirective) {
	dir, prefix := filepath.Split(toComplete)
	entries, err := os.ReadDir(cmp.Or(dir, "."))
	directive := cobra.ShellCompDirectiveNoFileComp
	if err != nil {
		return nil, directive
	}
	var out []string
	for _, e := range entries {
		name := e.Name()
		if !strings.HasPrefix(name, prefix) || (strings.HasPrefix(name, ".") && !strings.HasPrefix(prefix, ".")) {
			continue
		}
		switch {
		case isDir(dir, e):
			out = append(out, dir+name+"/")
			directive |= cobra.ShellCompDirectiveNoSpace
		case slices.Contains(yamlExts, filepath.Ext(name)):
			out = append(out, dir+name)
		}
	}
	return out, directive
}

// isDir reports whether the entry e of dir is a directory or a symbolic
// link to one.
func isDir(dir string, e os.DirEntry) bool {
	if e.IsDir() {
		return true
	}
	if e.Type()&os.ModeSymlink == 0 {
		return false
	}
	st, err := os.Stat(filepath.Join(cmp.Or(dir, "."), e.Name()))
	return err == nil && st.IsDir()
}
