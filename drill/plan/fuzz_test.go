package plan

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/aiuptime/aiuptime/hostcaps"
	"github.com/aiuptime/aiuptime/internal/yamldoc"
	"github.com/aiuptime/aiuptime/param"
	"github.com/aiuptime/aiuptime/plans"
	"github.com/aiuptime/aiuptime/stack"
	"github.com/aiuptime/aiuptime/stack/stackfile"
)

// FuzzParsePlan: the decoder never panics, every error is a *Error
// naming the file, and every accepted plan passes validation again.
// Run: go test ./drill/plan -run '^$' -fuzz FuzzParsePlan -fuzztime 60s
func FuzzParsePlan(f *testing.F) {
	for _, n := range plans.Names() {
		b, err := plans.Read(n)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	for _, s := range []string{
		"name: x\nsteps:\n  - {name: a, wait: 1s}\n",
		"name: x\nsteps:\n  - name: a\n    fault: network-delay\n    target: {role: model, percent: 50}\n    params: {delay: 1s}\n    duration: 2s\n",
		"name: x\nsteps:\n  - {name: a, fault: gpu-hang, target: [model-0]}\n  - {name: b, revert: a}\n",
		"name: x\nmonitoring: {}\nsteps:\n  - {name: a, await: alert-firing X, timeout: 1s}\n",
		"name: &a x\nsteps: [{name: *a, wait: 1s}]\n",
		"name: !!str x\nsteps: [{name: a, wait: !!str 1s}]\n",
		"name: x\nslo: {availability: 99%, error_rate: .5}\nsteps: []\n",
		"- a\n", "", "---\n---\n", "name: [\n", "{", "name: x\n<<: {steps: []}\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := Parse("fuzz.yaml", data)
		if err != nil {
			checkError(t, err)
			return
		}
		if errs := p.validate(); len(errs) > 0 {
			t.Fatalf("accepted plan fails validation: %v", errs)
		}
		for _, s := range p.Steps {
			if s.Kind() == "" {
				t.Fatalf("accepted step %q without a kind", s.Name)
			}
		}
	})
}

// hostileSeeds are inputs that once exhausted memory or time, or slipped
// through validation.
var hostileSeeds = []string{
	"name: l\nsteps:\n  - name: a\n    fault: gpu-kill\n    target: model-0\n    params:\n      signal: [&a [l, l, l, l, l, l, l, l, l], &b [*a, *a, *a, *a, *a, *a, *a, *a, *a], &c [*b, *b, *b, *b, *b, *b, *b, *b, *b], &d [*c, *c, *c, *c, *c, *c, *c, *c, *c], &e [*d, *d, *d, *d, *d, *d, *d, *d, *d], &f [*e, *e, *e, *e, *e, *e, *e, *e, *e]]\n",
	"name: n\nsteps: " + strings.Repeat("[", 5000) + strings.Repeat("]", 5000) + "\n",
	"name: n\nsteps:\n" + strings.Repeat(" ", 2) + strings.Repeat("- ", 100) + "x\n",
	"\xef\xbb\xbfname: bom\nsteps:\n  - {name: a, wait: 1s}\n",
	"name: h\nsteps:\n  - {name: a, fault: container-pause, target: eth0, duration: 1s}\n",
	"name: h\nsteps:\n  - {name: a, fault: container-pause, target: [model-0, lo], duration: 1s}\n",
	"name: h\nsteps:\n  - {name: a, fault: container-pause, target: \"1\", duration: 1s}\n",
	"name: h\nsteps:\n  - {name: a, fault: container-pause, target: model-9, duration: 1s}\n",
	"name: h\nsteps:\n  - {name: a, fault: container-pause, target: {role: model, count: 9}, duration: 1s}\n",
	"name: h\nsteps:\n  - {name: a, fault: container-pause, target: {role: model, count: 1}, duration: 0s}\n",
	"name: h\nsteps:\n  - {name: a, fault: container-pause, target: {role: proxy, percent: 0}}\n",
	"name: h\nsteps:\n  - {name: a, wait: 2562048h}\n",
	"name: h\nsteps:\n  - {name: a, fault: network-loss, target: model-0, params: {percent: 5, peer: host}, duration: 1s}\n",
	"name: h\nsteps:\n  - {name: a, fault: disk-full, target: {role: model}, params: {volume: models, leave_bytes: 99999999999999999999}}\n",
	strings.Repeat("\"", 4000),
}

// stackSeeds are stack files, good and bad.
var stackSeeds = []string{
	"", "kind: containers\nreplicas: 3\nproxy: always\n",
	"kind: endpoints\nendpoints:\n  - {name: gateway, role: gateway, url: \"http://127.0.0.1:1\"}\n  - {name: model-0, role: model, url: \"http://127.0.0.1:2\"}\n",
	"kind: docker\ndocker: {project: p, roles: {vllm: model}}\n",
	"kind: endpoints\nendpoints:\n  - {name: eth0, role: model, url: \"http://x\"}\n",
	"\xef\xbb\xbfkind: containers\nreplicas: 1\n",
}

// FuzzValidate runs the whole validation path on a plan and a stack file:
// decode, step structure and fault params, the stack file, the plan
// against the stack's capabilities and services, and every target's
// resolution under a seed. Nothing panics; every refusal is a *Error with
// a file; a plan the stack accepts resolves every target to services of
// the stack, as many as asked, never a host-level name, and the same ones
// again for the same seed.
// Run: go test ./drill/plan -run '^$' -fuzz FuzzValidate -fuzztime 5m
func FuzzValidate(f *testing.F) {
	for i, s := range hostileSeeds {
		f.Add([]byte(s), []byte(stackSeeds[i%len(stackSeeds)]), uint64(i))
	}
	for _, n := range plans.Names() {
		b, _ := plans.Read(n)
		f.Add(b, []byte(stackSeeds[1]), uint64(7))
	}
	f.Fuzz(func(t *testing.T, planData, stackData []byte, seed uint64) {
		p, err := Parse("fuzz.yaml", planData)
		if err != nil {
			checkError(t, err)
			return
		}
		sh := stackfile.EmbeddedFile().Shape(hostcaps.Kernel{})
		if len(stackData) > 0 {
			sf, err := stackfile.Parse("stack.yaml", stackData)
			if err != nil {
				checkError(t, err)
				return
			}
			sh = sf.Shape(hostcaps.Kernel{})
		}
		if err := p.CheckStack(sh); err != nil {
			checkError(t, err)
			return
		}
		for _, s := range p.Steps {
			if s.Target != nil {
				checkResolution(t, s, sh, seed)
			}
		}
	})
}

func checkError(t *testing.T, err error) {
	t.Helper()
	var pe *yamldoc.Error
	if !errors.As(err, &pe) {
		t.Fatalf("error %T is not a *yamldoc.Error: %v", err, err)
	}
	var ec interface{ ExitCode() int }
	if !errors.As(err, &ec) || ec.ExitCode() != 2 {
		t.Fatalf("error does not exit 2: %v", err)
	}
	if !strings.HasPrefix(err.Error(), "fuzz.yaml") && !strings.HasPrefix(err.Error(), "stack.yaml") {
		t.Fatalf("error does not name the file: %v", err)
	}
}

// checkResolution resolves an accepted step's target: on a stack whose
// services are known it must succeed with exactly the services asked for.
func checkResolution(t *testing.T, s Step, sh stack.Shape, seed uint64) {
	t.Helper()
	for _, n := range s.Target.Names {
		if err := param.CheckServiceName(n); err != nil {
			t.Fatalf("accepted target %q: %v", n, err)
		}
	}
	if len(sh.Services) == 0 {
		return // an attached stack: resolved against the live services at the start of the run
	}
	got, err := s.Target.Pick(sh.Services, seed, s.Name)
	if err != nil {
		t.Fatalf("step %q: accepted target %s does not resolve: %v", s.Name, s.Target, err)
	}
	again, _ := s.Target.Pick(sh.Services, seed, s.Name)
	if !slices.Equal(got, again) {
		t.Fatalf("seed %d: %v then %v", seed, got, again)
	}
	want := len(s.Target.Names)
	if want == 0 {
		of := 0
		for _, sv := range sh.Services {
			if string(sv.Role) == s.Target.Role {
				of++
			}
		}
		want = s.Target.Of(of)
	}
	if len(got) != want {
		t.Fatalf("step %q: %s picked %v, want %d services", s.Name, s.Target, got, want)
	}
	for _, n := range got {
		if _, ok := sh.Service(n); !ok {
			t.Fatalf("step %q picked %q, no service of the stack", s.Name, n)
		}
	}
}
