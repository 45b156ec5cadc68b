package rules

import (
	"fmt"
	"regexp"
	"regexp/syntax"
	"strings"
)

// Default scrape jobs. They are the job names the projects' own examples
// use, so the rules select a customer's targets unchanged when the
// Prometheus was set up from those examples:
//
//   - LiteLLM: job_name 'litellm' in prometheus.yml at the root of
//     github.com/BerriAI/litellm (also in the LiteLLM Grafana dashboard
//     24965's setup notes);
//   - vLLM: job_name vllm in examples/production_monitoring/prometheus.yaml
//     of github.com/vllm-project/vllm.
//
// The harness's own Prometheus (monitor.Config) uses the same job names.
const (
	DefaultGatewayJob = "litellm"
	DefaultModelJob   = "vllm"
)

// Selector picks one component's series by the target labels Prometheus
// attaches when scraping: job, namespace (Kubernetes service discovery,
// prometheus-operator) and instance. Each field is a regular expression in
// Prometheus's dialect (RE2, anchored at both ends as in `=~`); a value
// without regex metacharacters becomes an exact `=` matcher. An empty
// field leaves that label unmatched. At least one field must be set.
type Selector struct {
	Job       string `json:"job,omitempty"`
	Namespace string `json:"namespace,omitempty"`
	Instance  string `json:"instance,omitempty"`
}

// Selectors are the gateway's and the model servers' selectors.
type Selectors struct {
	Gateway Selector `json:"gateway"`
	Model   Selector `json:"model"`
}

// DefaultSelectors select LiteLLM's and vLLM's usual scrape jobs.
var DefaultSelectors = Selectors{
	Gateway: Selector{Job: DefaultGatewayJob},
	Model:   Selector{Job: DefaultModelJob},
}

// ValidMatcher reports whether re is a usable label matcher value: a
// regular expression Prometheus accepts.
func ValidMatcher(re string) error {
	if _, err := regexp.Compile("^(?:" + re + ")$"); err != nil {
		return fmt.Errorf("bad regular expression %q: %w", re, err)
	}
	return nil
}

// IsZero reports whether no label is matched.
func (s Selector) IsZero() bool { return s == Selector{} }

// pairs are the set label matchers as label name and value, in label order.
func (s Selector) pairs() [][2]string {
	var out [][2]string
	for _, p := range [][2]string{{"instance", s.Instance}, {"job", s.Job}, {"namespace", s.Namespace}} {
		if p[1] != "" {
			out = append(out, p)
		}
	}
	return out
}

// Validate checks every matcher of the selector of component (gateway or
// model) and that the selector cannot match every series: `up{}` alone
// would raise GatewayDown for every target in the Prometheus.
func (s Selector) Validate(component string) error {
	ps := s.pairs()
	if len(ps) == 0 {
		return fmt.Errorf("%w: %s selector: set at least one of job, namespace, instance", ErrInvalidSpec, component)
	}
	allEmpty := true
	for _, p := range ps {
		re, err := regexp.Compile("^(?:" + p[1] + ")$")
		if err != nil {
			return fmt.Errorf("%w: %s %s matcher: bad regular expression %q: %v", ErrInvalidSpec, component, p[0], p[1], err)
		}
		allEmpty = allEmpty && re.MatchString("")
	}
	if allEmpty {
		return fmt.Errorf("%w: %s selector matches the empty string on every label (PromQL refuses such selectors)", ErrInvalidSpec, component)
	}
	return nil
}

// Matchers renders the selector as PromQL label matchers, e.g.
// `job="litellm"` or `job="vllm",namespace=~"ai-.*"`.
func (s Selector) Matchers() string {
	var ms []string
	for _, p := range s.pairs() {
		op := "="
		if regexp.QuoteMeta(p[1]) != p[1] {
			op = "=~"
		}
		ms = append(ms, fmt.Sprintf(`%s%s"%s"`, p[0], op, promEscape(p[1])))
	}
	return strings.Join(ms, ",")
}

// sel adds the selector's matchers to a series selector: a metric name
// (`up`) or a brace selector (`{__name__=~"x"}`, `m{le="1"}`).
func (s Selector) sel(base string) string {
	m := s.Matchers()
	switch {
	case strings.HasSuffix(base, "{}"):
		return strings.TrimSuffix(base, "}") + m + "}"
	case strings.HasSuffix(base, "}"):
		return strings.TrimSuffix(base, "}") + "," + m + "}"
	default:
		return base + "{" + m + "}"
	}
}

// ExampleLabels returns target labels a series of this component could
// carry: for each set matcher, a short value it matches (derived from the
// regular expression); instance defaults to defaultInstance. The generated
// promtool tests use them.
func (s Selector) ExampleLabels(defaultInstance string) (map[string]string, error) {
	out := map[string]string{"instance": defaultInstance}
	for _, p := range s.pairs() {
		v, err := exampleMatch(p[1])
		if err != nil {
			return nil, fmt.Errorf("%s matcher %q: %w", p[0], p[1], err)
		}
		out[p[0]] = v
	}
	return out, nil
}

// ForeignLabels returns labels of a series that the selector does not
// select: ExampleLabels with the first matched label changed to a value
// its matcher rejects.
func (s Selector) ForeignLabels(defaultInstance string) (map[string]string, error) {
	out, err := s.ExampleLabels(defaultInstance)
	if err != nil {
		return nil, err
	}
	p := s.pairs()[0]
	re := regexp.MustCompile("^(?:" + p[1] + ")$")
	for _, c := range []string{"unrelated", "node-exporter", "other:9100", "x", "0"} {
		if !re.MatchString(c) {
			out[p[0]] = c
			return out, nil
		}
	}
	return nil, fmt.Errorf("%s matcher %q matches every candidate value", p[0], p[1])
}

// exampleMatch builds a short string the anchored expression re matches.
func exampleMatch(re string) (string, error) {
	tree, err := syntax.Parse(re, syntax.Perl)
	if err != nil {
		return "", fmt.Errorf("parse: %w", err)
	}
	var b strings.Builder
	writeExample(&b, tree.Simplify())
	s := b.String()
	if !regexp.MustCompile("^(?:" + re + ")$").MatchString(s) {
		return "", fmt.Errorf("no example value found (tried %q)", s)
	}
	return s, nil
}

// writeExample writes a short match of r: the first alternative, one
// repetition, a letter or digit of a class where it has one.
func writeExample(b *strings.Builder, r *syntax.Regexp) {
	switch r.Op {
	case syntax.OpLiteral:
		b.WriteString(string(r.Rune))
	case syntax.OpCharClass:
		if len(r.Rune) > 0 {
			b.WriteRune(pickRune(r.Rune))
		}
	case syntax.OpAnyChar, syntax.OpAnyCharNotNL:
		b.WriteByte('x')
	case syntax.OpCapture:
		writeExample(b, r.Sub[0])
	case syntax.OpConcat:
		for _, s := range r.Sub {
			writeExample(b, s)
		}
	case syntax.OpAlternate:
		writeExample(b, r.Sub[0])
	case syntax.OpPlus, syntax.OpStar, syntax.OpQuest:
		// One repetition: `.*:4000` gives "x:4000", a likelier label value
		// than ":4000".
		writeExample(b, r.Sub[0])
	case syntax.OpRepeat:
		n := r.Min
		if n == 0 && r.Max != 0 {
			n = 1
		}
		for i := 0; i < n; i++ {
			writeExample(b, r.Sub[0])
		}
	}
	// OpEmptyMatch, anchors, word boundaries: nothing.
}

// pickRune chooses a character from a class given as [lo, hi] pairs:
// 'a', 'x' or '0' when the class holds one, else the class's first.
func pickRune(ranges []rune) rune {
	for _, want := range []rune{'a', 'x', '0', '-'} {
		for i := 0; i+1 < len(ranges); i += 2 {
			if ranges[i] <= want && want <= ranges[i+1] {
				return want
			}
		}
	}
	return ranges[0]
}
