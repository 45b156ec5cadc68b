package main

import (
	"fmt"
	"path/filepath"
	"sort"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/aiuptime/aiuptime/chaos"
	"github.com/aiuptime/aiuptime/drill/plan"
	"github.com/aiuptime/aiuptime/param"
	"github.com/aiuptime/aiuptime/plans"
	"github.com/aiuptime/aiuptime/stack"
)

func init() { addCommand(newListCmd) }

// planEntry is one plan as `drill list` shows it.
type planEntry struct {
	Name        string `json:"name"`
	Description string `json:"description"`
	// Source is the file, or "embedded" for a shipped plan not on disk.
	Source string `json:"source"`
	Error  string `json:"error,omitempty"`
}

// listPlans finds the plans in ./plans (working dir) and the shipped ones;
// a file on disk shadows the shipped plan of the same name.
func listPlans() []planEntry {
	seen := map[string]bool{}
	var out []planEntry
	files, _ := filepath.Glob(filepath.Join("plans", "*.yaml"))
	for _, f := range files {
		e := planEntry{Name: strings.TrimSuffix(filepath.Base(f), ".yaml"), Source: f}
		if p, err := plan.LoadFile(f); err != nil {
			e.Error = firstLine(err.Error())
		} else {
			e.Name, e.Description = p.Name, p.Description
		}
		seen[filepath.Base(f)] = true
		out = append(out, e)
	}
	for _, n := range plans.Names() {
		if seen[n] {
			continue
		}
		e := planEntry{Name: strings.TrimSuffix(n, ".yaml"), Source: "embedded"}
		b, _ := plans.Read(n)
		if p, err := plan.Parse(n, b); err != nil {
			e.Error = firstLine(err.Error())
		} else {
			e.Name, e.Description = p.Name, p.Description
		}
		out = append(out, e)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

func firstLine(s string) string {
	l, _, _ := strings.Cut(s, "\n")
	return l
}

// kindLine is one fault, action or await kind as `drill list` prints it.
type kindLine struct {
	name, doc string
	params    []param.Spec
	needs     []stack.Capability
}

func newListCmd() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List the shipped plans and the fault, action and await kinds with their params",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ps := listPlans()
			if asJSON {
				return printJSON(cmd, map[string]any{"plans": ps, "faults": chaos.Kinds(), "actions": plan.ActionKinds, "awaits": plan.AwaitKinds,
					"model_servers": modelServers()})
			}
			fmt.Fprintln(cmd.OutOrStdout(), "PLANS")
			w := tabwriter.NewWriter(cmd.OutOrStdout(), 2, 4, 2, ' ', 0)
			for _, p := range ps {
				desc := p.Description
				if p.Error != "" {
					desc = "INVALID: " + p.Error
				}
				fmt.Fprintf(w, "  %s\t%s\t(%s)\n", p.Name, desc, p.Source)
			}
			w.Flush()
			var faults, actions, awaits []kindLine
			for _, k := range chaos.Kinds() {
				faults = append(faults, kindLine{k.Name, k.Description, k.Params, k.Needs})
			}
			for _, k := range plan.ActionKinds {
				actions = append(actions, kindLine{k.Name, k.Doc, k.Params, k.Needs})
			}
			for _, k := range plan.AwaitKinds {
				awaits = append(awaits, kindLine{name: k.Name, doc: k.Doc})
			}
			printKinds(cmd, "FAULT KINDS (fault: KIND, params: {...})", faults)
			printKinds(cmd, "ACTIONS (action: KIND, params: {...})", actions)
			printKinds(cmd, "AWAITS (await: ..., timeout: D)", awaits)
			var servers []kindLine
			for _, m := range modelServers() {
				servers = append(servers, kindLine{name: m.Name, doc: m.Description})
			}
			printKinds(cmd, "MODEL SERVERS (stack file: model_server: KIND)", servers)
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

func printKinds(cmd *cobra.Command, title string, kinds []kindLine) {
	out := cmd.OutOrStdout()
	fmt.Fprintf(out, "\n%s\n", title)
	w := tabwriter.NewWriter(out, 2, 4, 2, ' ', 0)
	for _, k := range kinds {
		fmt.Fprintf(w, "  %s\t%s\n", k.name, k.doc)
		if len(k.needs) > 0 {
			var ns []string
			for _, n := range k.needs {
				ns = append(ns, string(n))
			}
			fmt.Fprintf(w, "      needs\t%s\n", strings.Join(ns, ", "))
		}
		for _, p := range k.params {
			attrs := []string{string(p.Type)}
			if p.Required {
				attrs = append(attrs, "required")
			}
			if p.Default != "" {
				attrs = append(attrs, "default "+p.Default)
			}
			if len(p.Enum) > 0 {
				attrs = append(attrs, strings.Join(p.Enum, "|"))
			}
			fmt.Fprintf(w, "      %s\t(%s) %s\n", p.Name, strings.Join(attrs, ", "), p.Doc)
		}
	}
	w.Flush()
}

// modelServer is a kind of model server as `drill list --json` shows it.
type modelServer struct {
	Name        string `json:"name"`
	Description string `json:"description"`
	Port        int    `json:"port"`
	HealthPath  string `json:"health_path"`
	VersionPath string `json:"version_path"`
	Engine      string `json:"engine,omitempty"`
}

func modelServers() []modelServer {
	var out []modelServer
	for _, n := range stack.ServerNames() {
		s, _ := stack.LookupServer(n)
		out = append(out, modelServer{Name: s.Name, Description: s.Description, Port: s.Port, HealthPath: s.HealthPath,
			VersionPath: s.VersionPath, Engine: strings.Join(s.Engine, " ")})
	}
	return out
}
