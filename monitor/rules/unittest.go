package rules

import (
	"fmt"
	"regexp"
	"sort"
	"strings"
	"time"

	"github.com/goccy/go-yaml"
)

// TestFile is a `promtool test rules` unit-test file.
type TestFile struct {
	RuleFiles          []string    `yaml:"rule_files"`
	EvaluationInterval string      `yaml:"evaluation_interval"`
	Tests              []TestGroup `yaml:"tests"`
}

// TestGroup is one test: input series and the alerts expected at given
// evaluation times.
type TestGroup struct {
	Name          string        `yaml:"name"`
	Interval      string        `yaml:"interval"`
	InputSeries   []InputSeries `yaml:"input_series"`
	AlertRuleTest []AlertTest   `yaml:"alert_rule_test"`
}

// InputSeries is a synthetic series in promtool's expanding notation.
type InputSeries struct {
	Series string `yaml:"series"`
	Values string `yaml:"values"`
}

// AlertTest expects exactly ExpAlerts firing for Alertname at EvalTime
// (none: the alert must not be firing).
type AlertTest struct {
	EvalTime  string     `yaml:"eval_time"`
	Alertname string     `yaml:"alertname"`
	ExpAlerts []ExpAlert `yaml:"exp_alerts,omitempty"`
}

// ExpAlert is one expected firing alert.
type ExpAlert struct {
	ExpLabels      map[string]string `yaml:"exp_labels"`
	ExpAnnotations map[string]string `yaml:"exp_annotations"`
}

// YAML renders the test file.
func (t TestFile) YAML() ([]byte, error) {
	b, err := yaml.Marshal(t)
	if err != nil {
		return nil, fmt.Errorf("marshal rule tests: %w", err)
	}
	return b, nil
}

// Tests generates promtool unit tests for f, the rules Generate made from
// spec, read from ruleFile (a path relative to the test file). Every alert
// in f gets a test on synthetic series labelled the way LiteLLM and vLLM
// label theirs, carrying target labels the selectors match: the alert fires
// once its condition held for the `for:` and is resolved later, and series
// of a target the selectors do not match never raise it. notes say which
// alerts could only be shown not to fire (a burn-rate threshold >= 1).
func Tests(spec Spec, f File, ruleFile string) (tf TestFile, notes []string, err error) {
	if err := spec.defaults(); err != nil {
		return TestFile{}, nil, err
	}
	t, err := newTester(spec, f)
	if err != nil {
		return TestFile{}, nil, err
	}
	tf = TestFile{RuleFiles: []string{ruleFile}, EvaluationInterval: promDur(spec.ScrapeInterval)}
	for _, name := range f.Alerts() {
		build, ok := t.builders()[name]
		if !ok {
			return TestFile{}, nil, fmt.Errorf("no unit test for alert %s", name)
		}
		tg, err := build()
		if err != nil {
			return TestFile{}, nil, fmt.Errorf("unit test for %s: %w", name, err)
		}
		tg.Name, tg.Interval = name, promDur(spec.ScrapeInterval)
		tf.Tests = append(tf.Tests, tg)
	}
	return tf, t.notes, nil
}

// tester builds the synthetic timelines; all times are in scrape intervals
// ("samples"), one sample per interval.
type tester struct {
	spec  Spec
	rules map[string]Rule
	k     int // the for: in samples
	gw    map[string]string
	gwOff map[string]string // a target the gateway selector does not match
	m0    map[string]string
	m1    map[string]string
	mOff  map[string]string
	// twoModels: m1 is a second selected target (not when the selector
	// pins one instance).
	twoModels bool
	notes     []string
}

// margin is the slack, in samples, around every expected transition.
const margin = 2

func newTester(spec Spec, f File) (*tester, error) {
	t := &tester{spec: spec, rules: map[string]Rule{}, k: spec.ForScrapes}
	for _, g := range f.Groups {
		for _, r := range g.Rules {
			if r.Alert != "" {
				t.rules[r.Alert] = r
			}
		}
	}
	gs, ms := spec.Selectors.Gateway, spec.Selectors.Model
	var err error
	if t.gw, err = targetLabels(gs, DefaultGatewayJob, "litellm:4000", false); err != nil {
		return nil, fmt.Errorf("gateway selector: %w", err)
	}
	if t.gwOff, err = targetLabels(gs, DefaultGatewayJob, "litellm-9:4000", true); err != nil {
		return nil, fmt.Errorf("gateway selector: %w", err)
	}
	for _, p := range []struct {
		out  *map[string]string
		inst string
		off  bool
	}{{&t.m0, "vllm-0:8000", false}, {&t.m1, "vllm-1:8000", false}, {&t.mOff, "vllm-9:8000", true}} {
		if *p.out, err = targetLabels(ms, DefaultModelJob, p.inst, p.off); err != nil {
			return nil, fmt.Errorf("model selector: %w", err)
		}
	}
	// A selector that pins one instance leaves room for one model target.
	t.twoModels = t.m0["instance"] != t.m1["instance"]
	return t, nil
}

// targetLabels are the target labels of a selected (or, with foreign, an
// unselected) target; every scraped series has job and instance.
func targetLabels(s Selector, job, instance string, foreign bool) (map[string]string, error) {
	l, err := s.ExampleLabels(instance)
	if foreign {
		l, err = s.ForeignLabels(instance)
	}
	if err != nil {
		return nil, err
	}
	if s.Job == "" {
		l["job"] = job
	}
	return l, nil
}

// samples is d in scrape intervals, rounded up.
func (t *tester) samples(d time.Duration) int {
	i := t.spec.ScrapeInterval
	return int((d + i - 1) / i)
}

func (t *tester) at(n int) string { return promDur(time.Duration(n) * t.spec.ScrapeInterval) }

// window is a scaled and clamped window in samples, as Generate uses it.
func (t *tester) window(d time.Duration) int {
	w, _ := Scaled(d, t.spec.Scale, t.spec.ScrapeInterval)
	return t.samples(w)
}

// expect is the firing alert name raised from series labels l.
func (t *tester) expect(name string, l map[string]string) ExpAlert {
	r := t.rules[name]
	labels := map[string]string{}
	for k, v := range l {
		labels[k] = v
	}
	for k, v := range r.Labels {
		labels[k] = v
	}
	ann := map[string]string{}
	for k, v := range r.Annotations {
		ann[k] = expandLabels(v, labels)
	}
	return ExpAlert{ExpLabels: labels, ExpAnnotations: ann}
}

// firesAndResolves is the checks every test ends with: not firing yet at
// pending (the condition holds, the for: has not passed; skipped when
// negative), firing at fire, resolved at resolve.
func (t *tester) firesAndResolves(name string, pending, fire, resolve int, firing ...ExpAlert) []AlertTest {
	var out []AlertTest
	if pending >= 0 {
		out = append(out, AlertTest{EvalTime: t.at(pending), Alertname: name})
	}
	return append(out,
		AlertTest{EvalTime: t.at(fire), Alertname: name, ExpAlerts: firing},
		AlertTest{EvalTime: t.at(resolve), Alertname: name})
}

var labelRef = regexp.MustCompile(`\{\{ \$labels\.([a-zA-Z_][a-zA-Z0-9_]*) \}\}`)

// expandLabels renders the only template construct the generated
// annotations use, {{ $labels.NAME }}; a missing label renders empty, as
// Prometheus's templates do.
func expandLabels(s string, labels map[string]string) string {
	return labelRef.ReplaceAllStringFunc(s, func(m string) string {
		return labels[labelRef.FindStringSubmatch(m)[1]]
	})
}

// series renders name{labels...} with extra labels, sorted.
func series(name string, target map[string]string, extra ...string) string {
	l := map[string]string{}
	for k, v := range target {
		l[k] = v
	}
	for i := 0; i+1 < len(extra); i += 2 {
		l[extra[i]] = extra[i+1]
	}
	keys := make([]string, 0, len(l))
	for k := range l {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s=%q", k, l[k])
	}
	return name + "{" + strings.Join(parts, ",") + "}"
}

// merge is target labels plus extra pairs.
func merge(target map[string]string, extra ...string) map[string]string {
	out := map[string]string{}
	for k, v := range target {
		out[k] = v
	}
	for i := 0; i+1 < len(extra); i += 2 {
		out[extra[i]] = extra[i+1]
	}
	return out
}

// values builds a promtool values string phase by phase.
type values struct {
	parts []string
	cur   float64
	n     int
}

// gauge appends n samples of v ("stale" and "_" too).
func (v *values) gauge(n int, s string) *values {
	for i := 0; i < n; i++ {
		v.parts = append(v.parts, s)
	}
	v.n += n
	return v
}

// counter appends n samples growing by inc each.
func (v *values) counter(n int, inc float64) *values {
	if n <= 0 {
		return v
	}
	start := v.cur + inc
	if v.n == 0 {
		start = 0
	}
	v.parts = append(v.parts, fmt.Sprintf("%s+%sx%d", fmtFloat(start), fmtFloat(inc), n-1))
	v.cur = start + inc*float64(n-1)
	v.n += n
	return v
}

func (v *values) String() string { return strings.Join(v.parts, " ") }
