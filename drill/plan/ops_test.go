package plan

import (
	"strings"
	"testing"

	"github.com/aiuptime/aiuptime/stack"
)

// TestCheckStackLifecycleOps: a provider that performs only some lifecycle
// operations (a Kubernetes pod can be deleted, not paused) refuses a fault
// needing another at validation, naming the step's field; one performing
// every operation accepts it.
func TestCheckStackLifecycleOps(t *testing.T) {
	const src = `name: ops
steps:
  - name: pause a replica
    fault: container-pause
    target: model-0
    duration: 1s
  - name: kill a replica
    fault: container-kill
    target: model-1
`
	p, err := Parse("ops.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		ops  []stack.Op
		want string // "" accepted
	}{
		{"every operation", nil, ""},
		{"pods", []stack.Op{stack.OpKill, stack.OpStop, stack.OpRestart},
			"ops.yaml:4:12: steps[0].fault: container-pause needs the lifecycle operation pause; stack kind kubernetes can only kill, stop, restart"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sh := stack.Shape{Kind: "kubernetes", Services: services(2), Capabilities: stack.AllCapabilities(), Ops: tc.ops}
			err := p.CheckStack(sh)
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("refused: %v", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Fatalf("error %v, want %q", err, tc.want)
			case tc.want != "" && strings.Count(err.Error(), "\n") != 0:
				t.Errorf("more than the pause refused:\n%v", err)
			}
		})
	}
}
