package plan

import (
	"errors"
	"strings"
	"testing"

	"github.com/aiuptime/aiuptime/plans"
)

// FuzzParsePlan: the decoder never panics, every error is a *Error
// naming the file, and every accepted plan passes validation again.
// Run: go test ./drill/plan -run '^$' -fuzz FuzzParsePlan -fuzztime 60s
func FuzzParse(f *testing.F) {
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
			var pe *Error
			if !errors.As(err, &pe) {
				t.Fatalf("error %T is not a *Error: %v", err, err)
			}
			if !strings.HasPrefix(err.Error(), "fuzz.yaml") {
				t.Fatalf("error does not name the file: %v", err)
			}
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
