package plan_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aiuptime/aiuptime/drill/plan"
)

const oneSLO = "apiVersion: openslo/v1\nkind: SLO\nmetadata: {name: avail}\nspec:\n" +
	"  indicator: {spec: {ratioMetric: {counter: true, good: {metricSource: {type: Prometheus, spec: {query: ok}}}, total: {metricSource: {type: Prometheus, spec: {query: all}}}}}}\n" +
	"  budgetingMethod: Occurrences\n  objectives: [{target: 0.99}]\n"

// TestPlanOpenSLO: slo.openslo is read relative to the plan, must stay
// inside its directory, and adds the file's objectives to the plan's own.
func TestPlanOpenSLO(t *testing.T) {
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "slos"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "slos", "a.yaml"), []byte(oneSLO), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name, ref, want string
	}{
		{"inside the plan's directory", "slos/a.yaml", ""},
		{"parent directory", "../a.yaml", `p.yaml:2:36: slo.openslo: "../a.yaml": give a path relative to the plan file, inside its directory`},
		{"absolute path", filepath.Join(dir, "slos", "a.yaml"), "slo.openslo: \"" + filepath.Join(dir, "slos", "a.yaml") + "\": give a path relative"},
		{"missing file", "slos/b.yaml", "p.yaml:2:36: slo.openslo: " + filepath.Join(dir, "slos", "b.yaml") + ": no such OpenSLO file"},
	} {
		t.Run(c.name, func(t *testing.T) {
			src := "name: p\nslo: {availability: 99.0, openslo: " + c.ref + "}\nsteps:\n  - name: s\n    wait: 1s\n"
			p, err := plan.Parse(filepath.Join(dir, "p.yaml"), []byte(src))
			if c.want != "" {
				if err == nil || !strings.Contains(err.Error(), c.want) {
					t.Fatalf("error %v, want it to contain %q", err, c.want)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var names []string
			for _, o := range p.SLO.Objectives() {
				names = append(names, o.Name)
			}
			if strings.Join(names, ",") != "availability,avail" {
				t.Errorf("objectives %v, want the plan's availability then the file's avail", names)
			}
		})
	}
}
