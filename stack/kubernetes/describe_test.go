package kubernetes_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/aiuptime/aiuptime/chaos/container"
	"github.com/aiuptime/aiuptime/stack"
	"github.com/aiuptime/aiuptime/stack/kubernetes"
)

// TestDryRunSpeaksKubernetes: the container faults' dry run on a
// kubernetes stack says what happens to the pod and its Deployment, never
// a Docker container's inspect, start or recreate.
func TestDryRunSpeaksKubernetes(t *testing.T) {
	for _, tc := range []struct {
		action stack.Action
		want   string
	}{
		{stack.Action{Op: stack.OpKill, Signal: unix.SIGKILL}, "delete the pod of model-0 with grace 0"},
		{stack.Action{Op: stack.OpRestart, Timeout: 10 * time.Second}, "delete the pod of model-0 with grace 10s"},
		{stack.Action{Op: stack.OpStop}, "scale the Deployment of model-0 down by one"},
		{stack.Action{Op: stack.OpPause}, "pause model-0: not supported on kubernetes"},
	} {
		t.Run(string(tc.action.Op), func(t *testing.T) {
			f := &container.Fault{Kind: "container-" + string(tc.action.Op), Action: tc.action, Service: "model-0", Stack: &kubernetes.Stack{}}
			lines, err := f.Describe(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			text := strings.Join(lines, "\n")
			if !strings.Contains(text, tc.want) {
				t.Errorf("dry run\n%s\nlacks %q", text, tc.want)
			}
			for _, docker := range []string{"inspect its container", "unpause, start, or recreate"} {
				if strings.Contains(text, docker) {
					t.Errorf("dry run speaks Docker (%q):\n%s", docker, text)
				}
			}
		})
	}
}
