package plan

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/aiuptime/aiuptime/plans"
)

func TestShippedPlansValid(t *testing.T) {
	names := plans.Names()
	for _, want := range []string{"gpu-failover.yaml", "network-degradation.yaml", "disk-corruption.yaml", "container-loss.yaml", "quarterly-dr.yaml"} {
		found := false
		for _, n := range names {
			found = found || n == want
		}
		if !found {
			t.Errorf("plans/%s is not shipped (embedded: %v)", want, names)
		}
	}
	for _, name := range names {
		t.Run(name, func(t *testing.T) {
			onDisk := filepath.Join("..", "..", "plans", name)
			p, err := LoadFile(onDisk)
			if err != nil {
				t.Fatalf("invalid shipped plan:\n%v", err)
			}
			if p.Name+".yaml" != name {
				t.Errorf("plan name %q does not match its file %s", p.Name, name)
			}
			switch {
			case p.Description == "":
				t.Errorf("shipped plans have a description: %+v", p)
			case p.ClusterOnly():
				// Runs only with a kubernetes stack file; on the kwok tier
				// no pod serves, so it judges no SLO.
			case p.SLO.Availability == nil || p.Stop.AvailabilityBelow == nil:
				t.Errorf("shipped plans for the embedded stack set availability and a stop condition: %+v", p)
			}
			emb, err := plans.Read(name)
			if err != nil {
				t.Fatal(err)
			}
			disk, _ := os.ReadFile(onDisk)
			if !bytes.Equal(emb, disk) {
				t.Error("embedded copy differs from the file")
			}
			// The plan's wall time lower bound (waits and fault durations)
			// keeps shipped plans at a few minutes on the embedded stack.
			var min time.Duration
			for _, s := range p.Steps {
				min += s.Wait.D() + s.Duration.D()
			}
			if min > 3*time.Minute {
				t.Errorf("waits and durations alone take %s", min)
			}
		})
	}
}

func TestDecodeForms(t *testing.T) {
	src := `name: forms
slo:
  availability: 99.5
  error_rate: 1%
  latency_p95: 1500ms
  goodput: {ttft: 500ms, attainment: "95%"}
stop: {availability_below: 50}
probe: {interval: 20ms, mode: stream, target: model-0, max_tokens: 8}
monitoring: {window_scale: 0.001, thresholds: {error_rate: 5%}}
steps:
  - {name: a, wait: 1s}
  - name: b
    fault: network-delay
    target: model-0
    params: {delay: 200ms, jitter: 20ms}
    duration: 10s
  - name: c
    fault: gpu-kill
    target: [model-0, model-1]
  - name: d
    fault: container-pause
    target: {role: model, percent: 50}
    expect: {outage: false, max_recovery: 30s, max_failed_requests: 0}
  - name: e
    await: alert-firing AiuptimeEngineDown
    timeout: 30s
  - name: f
    await: {condition: "up == 1"}
    timeout: 5s
  - name: g
    revert: c
  - name: h
    action: canary
    params: {image: "aiuptime/modelserver:bad"}
    timeout: 2m
  - name: i
    await: healthy
    target: {role: model}
    timeout: 1m
`
	p, err := Parse("forms.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	if got := p.SLO.Availability.Fraction(); got != 0.995 {
		t.Errorf("availability = %v", got)
	}
	if got := p.SLO.ErrorRate.Fraction(); got != 0.01 {
		t.Errorf("error_rate = %v", got)
	}
	if p.SLO.LatencyP95.D() != 1500*time.Millisecond || p.SLO.Goodput.TTFT.D() != 500*time.Millisecond || p.SLO.Goodput.Attainment.Fraction() != 0.95 {
		t.Errorf("slo = %+v", p.SLO)
	}
	if p.Stop.AvailabilityBelow.Fraction() != 0.5 {
		t.Errorf("stop = %+v", p.Stop)
	}
	wantTargets := []*Target{nil, {Names: []string{"model-0"}}, {Names: []string{"model-0", "model-1"}}, {Role: "model", Percent: 50}}
	for i, w := range wantTargets {
		if diff := cmp.Diff(w, p.Steps[i].Target); diff != "" {
			t.Errorf("steps[%d].target (-want +got):\n%s", i, diff)
		}
	}
	if diff := cmp.Diff(&Await{Kind: AwaitAlertFiring, Alert: "AiuptimeEngineDown"}, p.Steps[4].Await); diff != "" {
		t.Error(diff)
	}
	if diff := cmp.Diff(&Await{Kind: AwaitCondition, Query: "up == 1"}, p.Steps[5].Await); diff != "" {
		t.Error(diff)
	}
	kinds := make([]string, len(p.Steps))
	for i, s := range p.Steps {
		kinds[i] = s.Kind()
	}
	if diff := cmp.Diff([]string{"wait", "fault", "fault", "fault", "await", "await", "revert", "action", "await"}, kinds); diff != "" {
		t.Errorf("kinds: %s", diff)
	}
	if p.RevertedBy("c") != "g" || p.RevertedBy("b") != "" {
		t.Error("RevertedBy")
	}
	if o := p.Steps[3].Expect.Outage; o == nil || *o {
		t.Error("expect.outage")
	}
	pr, st := p.Defaults()
	if pr.Interval.D() != 20*time.Millisecond || pr.Timeout.D() != DefaultProbeTimeout || st.Window.D() != DefaultStopWindow {
		t.Errorf("defaults: %+v %+v", pr, st)
	}
}

// TestPlanErrors checks that bad plans fail with file:line:col, the field
// and a useful message.
func TestPlanErrors(t *testing.T) {
	const head = "name: bad\nsteps:\n"
	for _, tc := range []struct {
		name, src, want string
	}{
		{"unknown top key", "name: x\nstpes: []\n", "bad.yaml:2:1: stpes: unknown key \"stpes\""},
		{"unknown step key", head + "  - name: a\n    wiat: 5s\n", "bad.yaml:4:5: steps[0].wiat: unknown key"},
		{"bad duration", head + "  - name: a\n    wait: 5x\n", "bad.yaml:4:11: steps[0].wait: invalid duration \"5x\""},
		{"number as duration", head + "  - name: a\n    wait: 5\n", "bad.yaml:4:11: steps[0].wait: invalid duration \"5\""},
		{"negative duration", head + "  - name: a\n    wait: -5s\n", "bad.yaml:4:11: steps[0].wait: invalid duration \"-5s\": durations are never negative"},
		{"no kind", head + "  - name: a\n", "bad.yaml:3:5: steps[0]: needs exactly one of wait, fault, action, await, revert"},
		{"two kinds", head + "  - name: a\n    wait: 1s\n    fault: gpu-kill\n    target: model-0\n", "bad.yaml:5:12: steps[0].fault: needs exactly one of wait, fault, action, await, revert, has wait and fault"},
		{"unknown fault", head + "  - name: a\n    fault: gpu-kil\n    target: model-0\n", "bad.yaml:4:12: steps[0].fault: unknown fault kind \"gpu-kil\""},
		{"unknown action", head + "  - name: a\n    action: yolo-deploy\n", "bad.yaml:4:13: steps[0].action: unknown action \"yolo-deploy\""},
		{"unknown param", head + "  - name: a\n    fault: network-delay\n    target: model-0\n    params: {delay: 1s, jiter: 1ms}\n", "bad.yaml:6:25: steps[0].params.jiter: unknown param of network-delay"},
		{"missing param", head + "  - name: a\n    fault: network-loss\n    target: model-0\n", "steps[0].params.percent: missing (required by network-loss)"},
		{"bad param value", head + "  - name: a\n    fault: network-bandwidth\n    target: model-0\n    params: {rate: fast}\n", "bad.yaml:6:20: steps[0].params.rate: invalid rate \"fast\""},
		{"fault without target", head + "  - name: a\n    fault: gpu-kill\n", "bad.yaml:4:12: steps[0].fault: a fault needs a target"},
		{"percent out of range", head + "  - name: a\n    fault: gpu-kill\n    target: {role: model, percent: 100}\n  - name: b\n    fault: gpu-kill\n    target: {role: model, percent: 101}\n", "bad.yaml:8:36: steps[1].target.percent: must be within 1..100, got 101"},
		{"percent 0", head + "  - name: a\n    fault: gpu-kill\n    target: {role: model, percent: 0}\n", "bad.yaml:5:36: steps[0].target.percent: percent: 0 picks no service"},
		{"count 0", head + "  - name: a\n    fault: gpu-kill\n    target: {role: model, count: 0x0}\n", "bad.yaml:5:34: steps[0].target.count: count: 0 picks no service"},
		{"target twice", head + "  - name: a\n    fault: gpu-kill\n    target: [model-0, model-0]\n", "bad.yaml:5:23: steps[0].target[1]: \"model-0\" is named twice"},
		{"target eth0", head + "  - name: a\n    fault: container-pause\n    target: eth0\n", "bad.yaml:5:13: steps[0].target: \"eth0\" looks like a network interface of the host: a host-level name is never a target"},
		{"target lo", head + "  - name: a\n    fault: container-pause\n    target: [model-0, lo]\n", "bad.yaml:5:23: steps[0].target[1]: \"lo\" names the host"},
		{"target host", head + "  - name: a\n    fault: container-pause\n    target: {names: [host]}\n", "steps[0].target.names[0]: \"host\" names the host"},
		{"target pid", head + "  - name: a\n    fault: container-pause\n    target: \"1\"\n", "bad.yaml:5:13: steps[0].target: 1 is a bare number (a process id?)"},
		{"probe target host", "name: x\nprobe: {target: localhost}\nsteps: [{name: a, wait: 1s}]\n", "bad.yaml:2:17: probe.target: \"localhost\" names the host"},
		{"peer eth0", head + "  - name: a\n    fault: network-loss\n    target: model-0\n    params: {percent: 5, peer: eth0}\n", "bad.yaml:6:32: steps[0].params.peer: \"eth0\" looks like a network interface"},
		{"zero wait", head + "  - name: a\n    wait: 0s\n", "bad.yaml:4:11: steps[0].wait: a duration of 0 is refused"},
		{"zero duration", head + "  - name: a\n    fault: gpu-hang\n    target: model-0\n    duration: 0s\n", "bad.yaml:6:15: steps[0].duration: a duration of 0 is refused"},
		{"zero timeout", head + "  - name: a\n    await: recovered\n    timeout: \"0\"\n", "bad.yaml:5:14: steps[0].timeout: a duration of 0 is refused"},
		{"zero probe interval", "name: x\nprobe: {interval: 0ms}\nsteps: [{name: a, wait: 1s}]\n", "bad.yaml:2:19: probe.interval: a duration of 0 is refused"},
		{"zero stop window", "name: x\nstop: {window: 0h0m}\nsteps: [{name: a, wait: 1s}]\n", "bad.yaml:2:16: stop.window: a duration of 0 is refused"},
		{"zero slo latency", "name: x\nslo: {latency_p95: 0s}\nsteps: [{name: a, wait: 1s}]\n", "bad.yaml:2:20: slo.latency_p95: a duration of 0 is refused"},
		{"zero goodput ttft", "name: x\nslo: {goodput: {ttft: 0.0s}}\nsteps: [{name: a, wait: 1s}]\n", "bad.yaml:2:23: slo.goodput.ttft: a duration of 0 is refused"},
		{"zero max_recovery", head + "  - name: a\n    fault: gpu-kill\n    target: model-0\n    expect: {max_recovery: 0s}\n", "bad.yaml:6:28: steps[0].expect.max_recovery: a duration of 0 is refused"},
		{"overflow", head + "  - name: a\n    wait: 2562047h47m16.854775808s\n", "bad.yaml:4:11: steps[0].wait: \"2562047h47m16.854775808s\": duration overflows"},
		{"overflow digits", head + "  - name: a\n    wait: " + strings.Repeat("9", 500) + "ns\n", "steps[0].wait: \"999"},
		{"zero duration param", head + "  - name: a\n    fault: network-delay\n    target: model-0\n    params: {delay: 0s}\n", "bad.yaml:6:21: steps[0].params.delay: must be more than 0"},
		{"billion laughs", head + "  - name: a\n    fault: gpu-kill\n    target: model-0\n    params: {signal: [&a [l, l, l, l, l, l, l, l, l], &b [*a, *a, *a, *a, *a, *a, *a, *a, *a], &c [*b, *b, *b, *b, *b, *b, *b, *b, *b], &d [*c, *c, *c, *c, *c, *c, *c, *c, *c], &e [*d, *d, *d, *d, *d, *d, *d, *d, *d]]}\n", "more than 20000 nodes: refused"},
		{"deep nesting", "name: x\nsteps: " + strings.Repeat("[", 100_000) + strings.Repeat("]", 100_000) + "\n", "bad.yaml:2:"},
		{"unknown role", head + "  - name: a\n    fault: gpu-kill\n    target: {role: db}\n", "bad.yaml:5:20: steps[0].target.role: unknown role \"db\""},
		{"unknown target key", head + "  - name: a\n    fault: gpu-kill\n    target: {rol: model}\n", "bad.yaml:5:14: steps[0].target.rol: unknown key \"rol\""},
		{"target number", head + "  - name: a\n    fault: gpu-kill\n    target: 3\n", "bad.yaml:5:13: steps[0].target: want a service name, a list of names or {role: ..., percent: ...}, got a number"},
		{"duplicate name", head + "  - {name: a, wait: 1s}\n  - {name: a, wait: 1s}\n", "bad.yaml:4:12: steps[1].name: \"a\" is also the name of steps[0]"},
		{"await without timeout", head + "  - name: a\n    await: recovered\n", "bad.yaml:3:5: steps[0].timeout: an await needs a timeout"},
		{"unknown await", head + "  - name: a\n    await: sunrise\n    timeout: 1s\n", "bad.yaml:4:12: steps[0].await: unknown await \"sunrise\""},
		{"alert without monitoring", head + "  - name: a\n    await: alert-firing X\n    timeout: 1s\n", "steps[0].await: alert-firing needs the monitoring block"},
		{"revert unknown", head + "  - name: a\n    revert: b\n", "bad.yaml:4:13: steps[0].revert: \"b\" is not an earlier step"},
		{"revert timed fault", head + "  - {name: a, fault: gpu-hang, target: model-0, duration: 5s}\n  - {name: b, revert: a}\n", "steps[1].revert: \"a\" reverts itself after its duration"},
		{"revert twice", head + "  - {name: a, fault: gpu-hang, target: model-0}\n  - {name: b, revert: a}\n  - {name: c, revert: a}\n", "steps[2].revert: \"a\" is already reverted"},
		{"params on wait", head + "  - name: a\n    wait: 1s\n    params: {x: 1}\n", "bad.yaml:5:5: steps[0].params: not allowed on a wait step"},
		{"availability out of range", "name: x\nslo: {availability: 101}\nsteps: [{name: a, wait: 1s}]\n", "bad.yaml:2:21: slo.availability: percentage 101 is out of range"},
		{"bad percent", "name: x\nslo: {error_rate: lots}\nsteps: [{name: a, wait: 1s}]\n", "bad.yaml:2:19: slo.error_rate: invalid percentage \"lots\""},
		{"bad mode", "name: x\nprobe: {mode: ping}\nsteps: [{name: a, wait: 1s}]\n", "bad.yaml:2:15: probe.mode: unknown mode \"ping\""},
		{"type mismatch", "name: x\nprobe: {max_tokens: many}\nsteps: [{name: a, wait: 1s}]\n", "bad.yaml:2:21: probe.max_tokens: want an integer, got a string"},
		{"no steps", "name: x\n", "bad.yaml:1:1: steps: a plan needs at least one step"},
		{"no name", "steps: [{name: a, wait: 1s}]\n", "bad.yaml:1:1: name: required"},
		{"bad name", "name: a b\nsteps: [{name: a, wait: 1s}]\n", "bad.yaml:1:7: name: \"a b\""},
		{"syntax", "name: [\n", "bad.yaml:1:7: "},
		{"empty", "", "bad.yaml: empty plan"},
		{"not a mapping", "- a\n- b\n", "bad.yaml:1:1: a plan is a mapping"},
		{"two documents", "name: a\n---\nname: b\n", "bad.yaml:3:5: the file holds more than one YAML document"},
		{"missing stack file", "name: x\nstack: nowhere.yaml\nsteps: [{name: a, wait: 1s}]\n", "bad.yaml:2:8: stack: stack file"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse("bad.yaml", []byte(tc.src))
			if err == nil {
				t.Fatalf("accepted:\n%s", tc.src)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error\n  %v\nwant it to contain\n  %s", err, tc.want)
			}
			var pe *Error
			if !errors.As(err, &pe) {
				t.Errorf("%T is not a *Error", err)
			}
			var ec interface{ ExitCode() int }
			if !errors.As(err, &ec) || ec.ExitCode() != 2 {
				t.Error("plan errors must exit 2")
			}
		})
	}
}

func TestSchemaCurrent(t *testing.T) {
	got, err := Schema()
	if err != nil {
		t.Fatal(err)
	}
	want, err := os.ReadFile(filepath.Join("..", "..", "plans", "schema.json"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("plans/schema.json is stale: run `make schema` (diff -want +got):\n%s", cmp.Diff(string(want), string(got)))
	}
	if !bytes.Contains(got, []byte(`"description": "Spec is a plan's`)) {
		t.Error("schema lacks the doc comments")
	}
}
