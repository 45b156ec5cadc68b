package reports

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

// addComponentSample gives the sample report a component recovery (the GPU
// kill's model-0 outage with every kind of phase status, and a partition
// model-1 rode out) and per-service availability.
func addComponentSample(r *Report, at func(float64) time.Time) {
	ph := func(name string, sec float64) ComponentPhase {
		t := at(10 + sec)
		return ComponentPhase{Name: name, Status: PhaseMeasured, At: &t, Seconds: fptr(sec)}
	}
	start, end := at(10.01), at(18.3)
	r.ComponentRecovery = &ComponentRecovery{
		Rule: ConfirmationRule{Failures: 3, Successes: 5}, IntervalSeconds: 0.1,
		MTTRSeconds: fptr(8.29), MTBFSeconds: fptr(51.71), DowntimeSeconds: 8.29,
		Outages: []ComponentOutage{{Service: "model-0", Start: start, End: end, DurationSeconds: 8.29, Cause: "kill GPU process of model-0"}},
		Steps: []StepRecovery{
			{Step: "kill GPU process of model-0", Kind: "fault:gpu-kill", Service: "model-0", At: at(10), Outage: true,
				Start: &start, End: &end, DowntimeSeconds: fptr(8.29), RecoverySeconds: fptr(8.3),
				Phases: []ComponentPhase{ph(PhaseDetected, 0.012), ph(PhaseProcessBack, 5.4),
					{Name: PhaseModelLoaded, Status: PhaseNotMeasured, Seconds: nil, Note: "the server did not report loading on its health endpoint <vLLM>"},
					ph(PhaseReady, 8.25), ph(PhaseFirstToken, 8.3), ph(PhaseInRotation, 9.1)},
				Users: &UserImpact{Requests: 166, Failed: 0, P95Seconds: fptr(0.31), BaselineP95Seconds: fptr(0.15), ExtraP95Seconds: fptr(0.16)}},
			{Step: "partition model-1", Kind: "fault:network-partition", Service: "model-1", At: at(30),
				Note: "no component outage: the direct checks kept succeeding"},
		},
	}
	r.ServiceAvailability = []ServiceAvailability{
		{Name: "gateway", Role: "gateway", Mode: "health", IntervalSeconds: 0.25, Requests: 240, Availability: fptr(1), P95Seconds: fptr(0.002), Outages: []Outage{}},
		{Name: "model-0", Role: "model", Mode: "health", IntervalSeconds: 0.25, Requests: 240, Failed: 33, Availability: fptr(0.8625), P95Seconds: fptr(0.004),
			Outages: []Outage{{Start: start, End: end, DurationSeconds: 8.29, Cause: "kill GPU process of model-0"}}, MTTRSeconds: fptr(8.29)},
	}
}

// TestComponentSections: the component recovery and service availability
// render in every output, a phase not measured reads "not measured" (never
// 0) with its reason, and the components' MTTR sits beside the users'.
func TestComponentSections(t *testing.T) {
	r := sampleReport("sk-test")
	md, err := Markdown(r)
	if err != nil {
		t.Fatal(err)
	}
	html, err := HTML(r)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		out  []byte
		want []string
	}{
		{"markdown", md, []string{"## Component recovery", "| MTTR | 8.290 s | 3.500 s |", "| kill GPU process of model-0 | model-0 | 8.290 s | 8.300 s | +12.0 ms | +5.400 s | not measured | +8.250 s |",
			"0 of 166", "310.0 ms (+160.0 ms)", "model-loaded: the server did not report loading", "| partition model-1 | model-1 | none | - |", "no component outage",
			"## Service availability", "| model-0 | model | health every 250.0 ms | 86.250% | 240 (33) | 1 | 8.290 s | 4.0 ms |"}},
		{"html", html, []string{"Component recovery by step", "8.300 s</td>", "<td>not measured</td>", "&lt;vLLM&gt;", "Service availability"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, w := range tc.want {
				if !bytes.Contains(tc.out, []byte(w)) {
					t.Errorf("%s lacks %q", tc.name, w)
				}
			}
		})
	}
	props := map[string]string{}
	for _, p := range JUnitOf(r).Suites[0].Properties {
		props[p.Name] = p.Value
	}
	for name, want := range map[string]string{
		"component.mttr_seconds": "8.29", "component.outages": "1",
		"step.kill GPU process of model-0.component.model-0.downtime_seconds":           "8.29",
		"step.kill GPU process of model-0.component.model-0.phase.ready_seconds":        "8.25",
		"step.kill GPU process of model-0.component.model-0.phase.model-loaded_seconds": NotMeasured,
		"step.partition model-1.component.model-1.downtime_seconds":                     "none",
		"service.model-0.availability":                                                  "0.8625", "service.model-0.p95_seconds": "0.004", "service.gateway.mttr_seconds": NoOutages,
	} {
		if props[name] != want {
			t.Errorf("property %s = %q, want %q", name, props[name], want)
		}
	}
}

// TestComponentNoOutages: without component outages the MTTR and MTBF read
// "no outages", in the tables and the properties.
func TestComponentNoOutages(t *testing.T) {
	r := &Report{ComponentRecovery: &ComponentRecovery{Rule: ConfirmationRule{3, 5}, IntervalSeconds: 0.1,
		Steps: []StepRecovery{{Step: "s", Service: "model-0", Note: "no component outage: the direct checks kept succeeding"}}}}
	rows := mttrRows(r)
	if rows[1][1] != NoOutages || rows[2][1] != NoOutages {
		t.Errorf("MTTR/MTBF rows %v, want %q", rows, NoOutages)
	}
	for _, p := range componentProperties(r) {
		if strings.HasPrefix(p.Name, "component.mt") && p.Value != NoOutages {
			t.Errorf("%s = %q, want %q", p.Name, p.Value, NoOutages)
		}
	}
}
