package plan

import (
	"strings"
	"testing"
)

func TestValidateStepRefs(t *testing.T) {
	head := "name: x\nsteps:\n  - name: steady state\n    wait: 1s\n"
	for _, tc := range []struct{ name, src, want string }{
		{"later baseline", "name: x\nsteps:\n  - name: v\n    action: validate\n    params: {baseline: later}\n  - name: later\n    wait: 1s\n",
			`bad.yaml:5:24: steps[0].params.baseline: "later" is not an earlier step`},
		{"unknown after", head + "  - name: v\n    action: validate\n    params: {baseline: steady state, after: nowhere}\n",
			`bad.yaml:7:45: steps[1].params.after: "nowhere" is not an earlier step`},
		{"itself", head + "  - name: v\n    action: validate\n    params: {baseline: v}\n", `steps[1].params.baseline: "v" is not an earlier step`},
		{"same step twice", head + "  - name: v\n    action: validate\n    params: {baseline: steady state, after: steady state}\n",
			`steps[1].params.after: "steady state" is also params.baseline`},
		{"tolerance out of range", head + "  - name: v\n    action: validate\n    params: {baseline: steady state, tolerance: 250}\n",
			"steps[1].params.tolerance: percentage 250 is out of range"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse("bad.yaml", []byte(tc.src))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error\n  %v\nwant it to contain\n  %s", err, tc.want)
			}
		})
	}
	ok := head + "  - name: after\n    wait: 1s\n  - name: v\n    action: validate\n    params: {baseline: steady state, after: after, min_delta: 20ms}\n"
	p, err := Parse("ok.yaml", []byte(ok))
	if err != nil {
		t.Fatal(err)
	}
	if got := p.Steps[2].Params["after"]; got != "after" {
		t.Errorf("after = %v", got)
	}
}
