package main

import (
	"context"
	"strings"
	"testing"

	"github.com/aiuptime/aiuptime/drill/plan"
	"github.com/aiuptime/aiuptime/exitcode"
	"github.com/aiuptime/aiuptime/stack"
	"github.com/aiuptime/aiuptime/stack/endpoints"
)

// TestCheckLive: an attached stack names its services only once it is
// opened; a target that is not one of them is refused (exit 2, with its
// position) before the runner starts anything.
func TestCheckLive(t *testing.T) {
	st, err := endpoints.New([]stack.Service{
		{Name: "gateway", Role: stack.RoleGateway, URL: "http://127.0.0.1:1"},
		{Name: "model-0", Role: stack.RoleModel, URL: "http://127.0.0.1:2"},
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ plan, want string }{
		{"name: p\nsteps:\n  - {name: a, await: healthy, target: model-9, timeout: 1s}\n", `p.yaml:3:39: steps[0].target: "model-9" is not a service of the endpoints stack (it has gateway, model-0)`},
		{"name: p\nsteps:\n  - {name: a, await: healthy, target: {role: model, count: 2}, timeout: 1s}\n", "p.yaml:3:60: steps[0].target.count: target 2 of role model: the stack has only 1 (model-0)"},
		{"name: p\nsteps:\n  - {name: a, await: healthy, target: {role: model, count: 1}, timeout: 1s}\n", ""},
	} {
		p, err := plan.Parse("p.yaml", []byte(tc.plan))
		if err != nil {
			t.Fatal(err)
		}
		err = checkLive(context.Background(), p, st)
		if tc.want == "" {
			if err != nil {
				t.Errorf("refused: %v", err)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), tc.want) || exitcode.Of(err, 0) != exitcode.Usage {
			t.Errorf("%v (exit %d), want exit 2 with %q", err, exitcode.Of(err, 0), tc.want)
		}
	}
}
