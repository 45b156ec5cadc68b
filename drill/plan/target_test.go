package plan

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/aiuptime/aiuptime/stack"
)

// services is a stack of a gateway and n model replicas.
func services(n int) []stack.ShapeService {
	out := []stack.ShapeService{{Name: "gateway", Role: stack.RoleGateway}}
	for i := range n {
		out = append(out, stack.ShapeService{Name: fmt.Sprintf("model-%d", i), Role: stack.RoleModel})
	}
	return out
}

// TestTargetShareSize: a share picks exactly as many as asked: count, or
// the percentage rounded down but at least one.
func TestTargetShareSize(t *testing.T) {
	for _, tc := range []struct {
		t    Target
		n    int
		want int
	}{
		{Target{Role: "model", Count: 1}, 3, 1},
		{Target{Role: "model", Count: 3}, 3, 3},
		{Target{Role: "model", Percent: 50}, 3, 1},
		{Target{Role: "model", Percent: 67}, 3, 2},
		{Target{Role: "model", Percent: 66}, 3, 1},
		{Target{Role: "model", Percent: 10}, 3, 1},
		{Target{Role: "model", Percent: 50}, 4, 2},
		{Target{Role: "model", Percent: 99}, 4, 3},
		{Target{Role: "model", Percent: 100}, 4, 4},
		{Target{Role: "model", Percent: 1}, 1, 1},
		{Target{Role: "model"}, 5, 5},
	} {
		for seed := range uint64(20) {
			got, err := tc.t.Pick(services(tc.n), seed, "step")
			if err != nil || len(got) != tc.want {
				t.Fatalf("%s of %d, seed %d: %v, %v; want %d services", tc.t, tc.n, seed, got, err, tc.want)
			}
			for _, g := range got {
				if !strings.HasPrefix(g, "model-") {
					t.Fatalf("%s picked %s, not a model", tc.t, g)
				}
			}
		}
	}
}

// TestTargetPickDeterministic: the same seed, step and services pick the
// same services, whatever the order the stack lists them in; different
// seeds and steps spread the harm over every replica.
func TestTargetPickDeterministic(t *testing.T) {
	one := Target{Role: "model", Count: 1}
	svcs := services(3)
	rev := slices.Clone(svcs)
	slices.Reverse(rev)
	hit := map[string]int{}
	for seed := range uint64(200) {
		a, err := one.Pick(svcs, seed, "pause one")
		if err != nil {
			t.Fatal(err)
		}
		b, _ := one.Pick(svcs, seed, "pause one")
		c, _ := one.Pick(rev, seed, "pause one")
		if !cmp.Equal(a, b) || !cmp.Equal(a, c) {
			t.Fatalf("seed %d: %v, then %v, reversed %v", seed, a, b, c)
		}
		hit[a[0]]++
	}
	for _, n := range []string{"model-0", "model-1", "model-2"} {
		if hit[n] < 30 {
			t.Errorf("200 seeds picked %s %d times (%v): the choice does not spread", n, hit[n], hit)
		}
	}
	// The step is part of the choice: two steps of one run need not hit
	// the same replica.
	differ := false
	for seed := range uint64(50) {
		a, _ := one.Pick(svcs, seed, "first")
		b, _ := one.Pick(svcs, seed, "second")
		differ = differ || !cmp.Equal(a, b)
	}
	if !differ {
		t.Error("the step's name never changes the choice")
	}
	// Picks keep the stack's order.
	got, _ := Target{Role: "model", Count: 2}.Pick(services(5), 7, "s")
	if !slices.IsSorted(got) {
		t.Errorf("picks %v are not in the stack's order", got)
	}
}

func TestTargetPickErrors(t *testing.T) {
	for _, tc := range []struct {
		t    Target
		want string
	}{
		{Target{Names: []string{"model-9"}}, "target model-9: no such service (have gateway, model-0, model-1)"},
		{Target{Role: "proxy"}, "target role proxy: the stack has no such service"},
		{Target{Role: "model", Count: 3}, "target 3 of role model: the stack has only 2 (model-0, model-1)"},
	} {
		if got, err := tc.t.Pick(services(2), 1, "s"); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, %v; want %q", tc.t, got, err, tc.want)
		}
	}
	got, err := Target{Names: []string{"model-1", "gateway"}}.Pick(services(2), 1, "s")
	if err != nil || !cmp.Equal(got, []string{"model-1", "gateway"}) {
		t.Errorf("names: %v, %v", got, err)
	}
}

// TestCheckStackTargets: targets are resolved against the stack file's
// services before anything starts, each problem at its position.
func TestCheckStackTargets(t *testing.T) {
	src := `name: t
probe: {target: model-7}
steps:
  - name: a
    fault: container-pause
    target: {role: model, count: 3}
    duration: 1s
  - name: b
    fault: container-pause
    target: {role: proxy}
    duration: 1s
  - name: c
    fault: container-pause
    target: [model-1, model-9]
    duration: 1s
  - name: d
    fault: network-loss
    target: model-0
    params: {percent: 5, peer: model-8}
    duration: 1s
  - name: e
    fault: container-pause
    target: {role: model, percent: 50}
    duration: 1s
`
	p, err := Parse("t.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	sh := stack.Shape{Kind: "containers", Services: services(2), Capabilities: stack.AllCapabilities()}
	err = p.CheckStack(sh)
	if err == nil {
		t.Fatal("accepted")
	}
	for _, want := range []string{
		`t.yaml:2:17: probe.target: "model-7" is not a service of the containers stack (it has gateway, model-0, model-1)`,
		"t.yaml:6:34: steps[0].target.count: target 3 of role model: the stack has only 2 (model-0, model-1)",
		"t.yaml:10:20: steps[1].target.role: target role proxy: the stack has no such service",
		`t.yaml:14:23: steps[2].target[1]: "model-9" is not a service`,
		`t.yaml:19:32: steps[3].params.peer: "model-8" is not a service`,
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error\n%v\nlacks\n%s", err, want)
		}
	}
	if n := strings.Count(err.Error(), "\n") + 1; n != 5 {
		t.Errorf("%d errors, want 5:\n%v", n, err)
	}
}
