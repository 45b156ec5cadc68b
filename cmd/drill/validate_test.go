package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aiuptime/aiuptime/drill"
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
	code := ExitPass
	if err != nil {
		var ec exitCoder
		code = ExitUsage
		if asExit(err, &ec) {
			code = ec.ExitCode()
		}
	}
	return out.String(), code, err
}

func asExit(err error, target *exitCoder) bool {
	for e := err; e != nil; {
		if c, ok := e.(exitCoder); ok {
			*target = c
			return true
		}
		u, ok := e.(interface{ Unwrap() error })
		if !ok {
			return false
		}
		e = u.Unwrap()
	}
	return false
}

func TestValidateShippedPlans(t *testing.T) {
	for _, name := range []string{"quarterly-dr", "gpu-failover.yaml", "plans/container-loss.yaml", "../../plans/network-degradation.yaml"} {
		out, code, err := runCLI(t, "validate", name)
		if code != ExitPass {
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
	if err := os.WriteFile(bad, []byte("name: bad\nsteps:\n  - name: a\n    faultt: gpu-kill\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, code, err := runCLI(t, "validate", bad)
	if code != ExitUsage || err == nil {
		t.Fatalf("exit %d, err %v; want 2", code, err)
	}
	if want := bad + ":4:5: steps[0].faultt: unknown key"; !strings.Contains(err.Error(), want) {
		t.Errorf("error %q lacks %q", err, want)
	}
	if _, code, _ := runCLI(t, "validate", filepath.Join(dir, "missing.yaml")); code != ExitUsage {
		t.Errorf("missing plan: exit %d", code)
	}
}

func TestList(t *testing.T) {
	out, code, err := runCLI(t, "list")
	if code != ExitPass {
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
		Plans  []planEntry
		Faults []drill.KindInfo
	}
	if err := json.Unmarshal([]byte(out), &v); err != nil || len(v.Plans) < 5 || len(v.Faults) < 15 {
		t.Errorf("list --json: %v %d plans %d faults", err, len(v.Plans), len(v.Faults))
	}
}

func TestSchemaCmdMatchesFile(t *testing.T) {
	out, code, err := runCLI(t, "schema")
	if code != ExitPass {
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
