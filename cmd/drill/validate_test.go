package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/aiuptime/aiuptime/chaos"
	"github.com/aiuptime/aiuptime/drill/plan"
	"github.com/aiuptime/aiuptime/exitcode"
)

// runCLI runs the drill root command with args and returns stdout and the exit code.
func runCLI(t *testing.T, args ...string) (string, int, error) {
	t.Helper()
	root := newRoot()
	var out bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&out)
	root.SetArgs(args)
	err := root.Execute()
	return out.String(), exitcode.Of(err, exitcode.Usage), err
}

// writeFile writes data to path, creating its directory.
func writeFile(t *testing.T, path, data string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestValidateShippedPlans(t *testing.T) {
	for _, name := range []string{"quarterly-dr", "gpu-failover.yaml", "../../plans/network-degradation.yaml"} {
		out, code, err := runCLI(t, "validate", name)
		if code != exitcode.Pass {
			t.Errorf("validate %s: exit %d: %v\n%s", name, code, err, out)
		}
		if !strings.Contains(out, "ok: plan") {
			t.Errorf("validate %s printed %q", name, out)
		}
	}
}

func TestValidateBadPlanExit2(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.yaml")
	writeFile(t, bad, "name: bad\nsteps:\n  - name: a\n    faultt: gpu-kill\n")
	_, code, err := runCLI(t, "validate", bad)
	if code != exitcode.Usage || err == nil {
		t.Fatalf("exit %d, err %v; want 2", code, err)
	}
	if want := bad + ":4:5: steps[0].faultt: unknown key"; !strings.Contains(err.Error(), want) {
		t.Errorf("error %q lacks %q", err, want)
	}
	// A path that does not exist is an error, never the shipped plan of
	// the same name.
	for _, missing := range []string{filepath.Join(dir, "missing.yaml"), "plans/quarterly-dr.yaml"} {
		if _, code, err := runCLI(t, "validate", missing); code != exitcode.Usage || err == nil || !strings.Contains(err.Error(), "no such plan file") {
			t.Errorf("missing plan %s: exit %d, %v", missing, code, err)
		}
	}
}

func TestList(t *testing.T) {
	out, code, err := runCLI(t, "list")
	if code != exitcode.Pass {
		t.Fatalf("exit %d: %v", code, err)
	}
	for _, want := range []string{"quarterly-dr", "gpu-failover", "network-delay", "delay", "disk-full", "leave_bytes", "rolling-update", "alert-firing"} {
		if !strings.Contains(out, want) {
			t.Errorf("drill list lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "INVALID") {
		t.Errorf("a listed plan is invalid:\n%s", out)
	}
	out, _, _ = runCLI(t, "list", "--json")
	var v struct {
		Plans   []planEntry
		Faults  []chaos.Kind
		Actions []plan.ActionKind
	}
	if err := json.Unmarshal([]byte(out), &v); err != nil || len(v.Plans) < 5 {
		t.Fatalf("list --json: %v %d plans", err, len(v.Plans))
	}
	// drill list --json is the registry, kind for kind and param for param.
	if diff := cmp.Diff(chaos.Kinds(), v.Faults, cmpopts.IgnoreUnexported(chaos.Kind{})); diff != "" {
		t.Errorf("list --json faults differ from the registry (-registry +listed):\n%s", diff)
	}
	if diff := cmp.Diff(plan.ActionKinds, v.Actions); diff != "" {
		t.Errorf("list --json actions differ from the table (-table +listed):\n%s", diff)
	}
}

// A stack of plain URLs offers no capability: a plan that would act on it
// is refused at validation, with the position and the reason, before
// anything starts.
func TestValidateRefusesFaultsTheStackCannotDo(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "urls.yaml"), "kind: endpoints\nendpoints:\n  - {name: gateway, role: gateway, url: \"http://127.0.0.1:1\"}\n  - {name: model-0, role: model, url: \"http://127.0.0.1:2\"}\n")
	p := filepath.Join(dir, "p.yaml")
	writeFile(t, p, "name: p\nstack: urls.yaml\nsteps:\n  - name: kill\n    fault: gpu-kill\n    target: model-0\n  - name: other\n    fault: container-pause\n    target: model-9\n")
	_, code, err := runCLI(t, "validate", p)
	if code != exitcode.Usage || err == nil {
		t.Fatalf("exit %d, %v; want 2", code, err)
	}
	for _, want := range []string{
		p + ":5:12: steps[0].fault: gpu-kill needs exec in a service and process signalling; stack kind endpoints has none",
		p + ":8:12: steps[1].fault: container-pause needs service lifecycle",
		`"model-9" is not a service of the endpoints stack (it has gateway, model-0)`,
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error\n%v\nlacks %q", err, want)
		}
	}
}

func TestSchemaCmdMatchesFile(t *testing.T) {
	out, code, err := runCLI(t, "schema")
	if code != exitcode.Pass {
		t.Fatal(err)
	}
	want, err := os.ReadFile("../../plans/schema.json")
	if err != nil {
		t.Fatal(err)
	}
	if out != string(want) {
		t.Error("drill schema differs from plans/schema.json: run make schema")
	}
}

// TestValidateOpenSLO: drill validate takes OpenSLO files as well as plans
// (the example file, and the example plan that names it), says which
// objectives a drill cannot evaluate, and refuses a broken OpenSLO file
// with exit 2 at file:line:col and the field.
func TestValidateOpenSLO(t *testing.T) {
	for _, c := range []struct {
		name, arg, want string
		code            int
	}{
		{"example file", "../../examples/openslo/gateway-slos.yaml",
			"ok: OpenSLO, 4 objectives (1 not evaluated by a drill), 2 Prometheus ratio SLIs", exitcode.Pass},
		{"example plan", "../../examples/openslo/plan.yaml", "ok: plan openslo-steady-state", exitcode.Pass},
	} {
		t.Run(c.name, func(t *testing.T) {
			out, code, err := runCLI(t, "validate", c.arg)
			if code != c.code || !strings.Contains(out, c.want) {
				t.Errorf("exit %d (%v), output %q; want %d and %q", code, err, out, c.code, c.want)
			}
		})
	}
	dir := t.TempDir()
	bad := filepath.Join(dir, "slos.yaml")
	writeFile(t, bad, "apiVersion: openslo/v1\nkind: SLO\nmetadata: {name: a}\nspec:\n  indicatorRef: nowhere\n  budgetingMethod: Occurrences\n  objectives: [{target: 0.9}]\n")
	_, code, err := runCLI(t, "validate", bad)
	if want := bad + `:5:17: spec.indicatorRef: "nowhere": no SLI of that name in this file`; code != exitcode.Usage || err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("exit %d, err %v; want 2 and %q", code, err, want)
	}
	plan := filepath.Join(dir, "sub", "plan.yaml")
	writeFile(t, plan, "name: p\nslo: {openslo: ../slos.yaml}\nsteps:\n  - name: s\n    wait: 1s\n")
	_, code, err = runCLI(t, "validate", plan)
	if want := plan + `:2:16: slo.openslo: "../slos.yaml": give a path relative to the plan file, inside its directory`; code != exitcode.Usage || err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("path escape: exit %d, err %v; want 2 and %q", code, err, want)
	}
	writeFile(t, filepath.Join(dir, "sub", "slos.yaml"), "apiVersion: openslo/v1\nkind: SLO\nmetadata: {name: a}\nspec:\n  indicatorRef: nowhere\n  budgetingMethod: Occurrences\n  objectives: [{target: 0.9}]\n")
	writeFile(t, plan, "name: p\nslo: {openslo: slos.yaml}\nsteps:\n  - name: s\n    wait: 1s\n")
	_, code, err = runCLI(t, "validate", plan)
	if want := filepath.Join(dir, "sub", "slos.yaml") + ":5:17: spec.indicatorRef"; code != exitcode.Usage || err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("plan naming a broken OpenSLO file: exit %d, err %v; want 2 and %q", code, err, want)
	}
}
