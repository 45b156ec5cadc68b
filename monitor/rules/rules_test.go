package rules

import (
	"errors"
	"math"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/aiuptime/aiuptime/slo"
	"github.com/aiuptime/aiuptime/units"
)

func TestScaled(t *testing.T) {
	for _, tc := range []struct {
		d       time.Duration
		scale   float64
		want    time.Duration
		clamped bool
	}{
		{time.Hour, 720, 5 * time.Second, false},
		{30 * time.Minute, 720, 4 * time.Second, true}, // 2.5s < 4 scrapes
		{5 * time.Minute, 720, 4 * time.Second, true},  // 416ms < 4 scrapes
		{72 * time.Hour, 720, 6 * time.Minute, false},
		{time.Hour, 1, time.Hour, false},
		{time.Hour, 0, time.Hour, false},
		{time.Second, 1, 4 * time.Second, true},
		{4 * time.Second, 1, 4 * time.Second, false},
	} {
		got, clamped := Scaled(tc.d, tc.scale, time.Second)
		if got != tc.want || clamped != tc.clamped {
			t.Errorf("Scaled(%s, %v) = %s, %v; want %s, %v", tc.d, tc.scale, got, clamped, tc.want, tc.clamped)
		}
	}
}

// objectives is an slo block: availability (a fraction, 0 for none) and a
// p95 latency (0 for none).
func objectives(availability float64, p95 time.Duration) slo.Spec {
	var s slo.Spec
	if availability > 0 {
		p := units.Percent(availability)
		s.Availability = &p
	}
	s.LatencyP95 = units.Duration(p95)
	return s
}

func TestPickBucket(t *testing.T) {
	bounds := []float64{0.3, 0.5, 1, 2.5, 5, math.Inf(1)}
	for _, tc := range []struct {
		th   time.Duration
		want float64
		err  bool
	}{
		{2 * time.Second, 2.5, false},
		{time.Second, 1, false},
		{100 * time.Millisecond, 0.3, false},
		{6 * time.Second, 0, true},
	} {
		got, err := PickBucket(bounds, tc.th)
		if (err != nil) != tc.err || got != tc.want {
			t.Errorf("PickBucket(%s) = %v, %v; want %v, err %v", tc.th, got, err, tc.want, tc.err)
		}
	}
}

func TestLeMatcherMatchesExporterFormats(t *testing.T) {
	for _, tc := range []struct {
		b       float64
		match   []string
		nomatch []string
	}{
		{2, []string{"2", "2.0", "2.00"}, []string{"20", "2.5", "12"}},
		{2.5, []string{"2.5", "2.50"}, []string{"2.55", "2", "25"}},
		{0.25, []string{"0.25"}, []string{"0.255", "1.25"}},
	} {
		re := regexp.MustCompile("^(?:" + LeMatcher(tc.b) + ")$") // Prometheus anchors
		for _, s := range tc.match {
			if !re.MatchString(s) {
				t.Errorf("LeMatcher(%v) does not match %q", tc.b, s)
			}
		}
		for _, s := range tc.nomatch {
			if re.MatchString(s) {
				t.Errorf("LeMatcher(%v) matches %q", tc.b, s)
			}
		}
	}
}

func TestGenerateAlertNamesAndNotes(t *testing.T) {
	res, err := Generate(Spec{
		Name: "chat", SLO: objectives(0.999, 2*time.Second),
		Scale: 720, LatencyBucket: 2.5,
	})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{AlertEngineDown, AlertEngineStalled, AlertGatewayDown, AlertDeploymentCooldown, AlertHighErrorRate,
		AlertLowAvailability, AlertHighLatencyP95, AlertErrorBudgetBurnPage, AlertErrorBudgetBurnTicket,
		AlertLatencyBudgetBurnPage, AlertLatencyBudgetBurnTicket}
	if diff := cmp.Diff(want, res.File.Alerts()); diff != "" {
		t.Errorf("alerts (-want +got):\n%s", diff)
	}
	notes := strings.Join(res.Notes, "\n")
	for _, s := range []string{"window 5m scaled by 720 clamped to 4s", "le=2.5 for threshold 2s"} {
		if !strings.Contains(notes, s) {
			t.Errorf("notes lack %q:\n%s", s, notes)
		}
	}
	// The page alert compares both windows of each pair against factor*budget.
	var page string
	for _, g := range res.File.Groups {
		for _, r := range g.Rules {
			if r.Alert == AlertErrorBudgetBurnPage {
				page = r.Expr
			}
		}
	}
	for _, s := range []string{`aiuptime:slo_errors:ratio_rate5m{slo="chat"} > 0.0144`, `aiuptime:slo_errors:ratio_rate1h{slo="chat"} > 0.0144`,
		`aiuptime:slo_errors:ratio_rate30m{slo="chat"} > 0.006`, `aiuptime:slo_errors:ratio_rate6h{slo="chat"} > 0.006`} {
		if !strings.Contains(page, s) {
			t.Errorf("page expr lacks %q: %s", s, page)
		}
	}
}

func TestGenerateOmitsLatencyWithoutBucket(t *testing.T) {
	res, err := Generate(Spec{SLO: objectives(0.99, time.Second)})
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range res.File.Alerts() {
		if a == AlertLatencyBudgetBurnPage {
			t.Errorf("latency burn alert generated without a bucket")
		}
	}
	if !strings.Contains(strings.Join(res.Notes, "\n"), "no latency histogram bucket") {
		t.Errorf("notes: %v", res.Notes)
	}
}

func TestGenerateRejectsBadSpec(t *testing.T) {
	for name, spec := range map[string]Spec{
		"availability 99.9 as a fraction": {SLO: objectives(99.9, 0)},
		"bad name":                        {Name: "a b", SLO: objectives(0.9, 0)},
		"negative scale":                  {Scale: -1},
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := Generate(spec); !errors.Is(err, ErrInvalidSpec) {
				t.Errorf("err = %v, want ErrInvalidSpec", err)
			}
		})
	}
}

func TestGenerateNotesUnreachableBurnThreshold(t *testing.T) {
	// 90 % availability: budget 0.1, so 14.4x needs a bad ratio of 1.44.
	res, err := Generate(Spec{SLO: objectives(0.9, 0)})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(strings.Join(res.Notes, "\n"), AlertErrorBudgetBurnPage+": window pair 5m/1h can never fire") {
		t.Errorf("notes: %v", res.Notes)
	}
}

func TestSelectorMatchers(t *testing.T) {
	for _, tc := range []struct {
		name string
		sel  Selector
		want string
		err  string
	}{
		{"exact job", Selector{Job: "litellm"}, `job="litellm"`, ""},
		{"regex and exact", Selector{Job: "vllm-.*", Namespace: "ai-prod"}, `job=~"vllm-.*",namespace="ai-prod"`, ""},
		{"instance with dots is a regex", Selector{Instance: `10\.0\.0\.1:8000`}, `instance=~"10\\.0\\.0\\.1:8000"`, ""},
		{"bad regex", Selector{Job: "("}, "", "model job matcher: bad regular expression"},
		{"nothing set", Selector{}, "", "set at least one of job, namespace, instance"},
		{"matches everything", Selector{Job: ".*", Namespace: "a?"}, "", "matches the empty string"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.sel.Validate("model")
			if tc.err != "" {
				if !errors.Is(err, ErrInvalidSpec) || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err = %v, want ErrInvalidSpec with %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := tc.sel.Matchers(); got != tc.want {
				t.Errorf("Matchers() = %s, want %s", got, tc.want)
			}
		})
	}
}

func TestExampleAndForeignLabels(t *testing.T) {
	for _, tc := range []Selector{
		{Job: "litellm"},
		{Job: "vllm-[a-z]+", Namespace: "ai-(prod|staging)"},
		{Instance: `litellm-[0-9]{2}:4000`},
		{Namespace: `team\d`, Job: "x|y"},
	} {
		ex, err := tc.ExampleLabels("host:1")
		if err != nil {
			t.Fatalf("%+v: %v", tc, err)
		}
		off, err := tc.ForeignLabels("host:1")
		if err != nil {
			t.Fatalf("%+v: %v", tc, err)
		}
		if !selects(tc, ex) || selects(tc, off) {
			t.Errorf("%+v: example %v selected %v, foreign %v selected %v", tc, ex, selects(tc, ex), off, selects(tc, off))
		}
	}
}

// selects evaluates the selector on labels as Prometheus would.
func selects(s Selector, l map[string]string) bool {
	for _, p := range s.pairs() {
		if !regexp.MustCompile("^(?:" + p[1] + ")$").MatchString(l[p[0]]) {
			return false
		}
	}
	return true
}

func TestEveryAlertIsCustomerReady(t *testing.T) {
	res, err := Generate(Spec{SLO: objectives(0.99, time.Second), Scale: 720, LatencyBucket: 1, ScrapeInterval: 15 * time.Second, ForScrapes: 4,
		Selectors: Selectors{Gateway: Selector{Namespace: "ai"}}})
	if err != nil {
		t.Fatal(err)
	}
	for _, g := range res.File.Groups {
		for _, r := range g.Rules {
			if strings.Contains(r.Expr, LabelRole+"=") {
				t.Errorf("%s selects on %s: %s", r.Name(), LabelRole, r.Expr)
			}
			if strings.Contains(r.Expr, "litellm") && !strings.Contains(r.Expr, `namespace="ai"`) {
				t.Errorf("%s reads the gateway without its selector: %s", r.Name(), r.Expr)
			}
			if r.Alert == "" {
				continue
			}
			if r.For != "1m" {
				t.Errorf("%s for: %q, want 1m (4 x 15s)", r.Alert, r.For)
			}
			for _, a := range []string{"summary", "description", "runbook_url"} {
				if r.Annotations[a] == "" {
					t.Errorf("%s has no %s", r.Alert, a)
				}
			}
			if want := DefaultRunbookURL + "#" + strings.ToLower(r.Alert); r.Annotations["runbook_url"] != want {
				t.Errorf("%s runbook_url %q, want %q", r.Alert, r.Annotations["runbook_url"], want)
			}
		}
	}
}

func TestLowAvailabilityThreshold(t *testing.T) {
	for _, tc := range []struct {
		name string
		spec Spec
		want string // "" when the alert is omitted
	}{
		{"availability objective", Spec{SLO: objectives(0.999, 0)}, "< 0.999"},
		{"explicit threshold wins", Spec{SLO: objectives(0.999, 0), Thresholds: Thresholds{Availability: 0.98}}, "< 0.98"},
		{"no objective", Spec{}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res, err := Generate(tc.spec)
			if err != nil {
				t.Fatal(err)
			}
			var expr string
			for _, g := range res.File.Groups {
				for _, r := range g.Rules {
					if r.Alert == AlertLowAvailability {
						expr = r.Expr
					}
				}
			}
			if tc.want == "" {
				if expr != "" || !strings.Contains(strings.Join(res.Notes, "\n"), AlertLowAvailability+" omitted") {
					t.Errorf("expr %q, notes %v; want the alert omitted and noted", expr, res.Notes)
				}
				return
			}
			if !strings.HasSuffix(expr, tc.want) {
				t.Errorf("expr %q, want it to end with %q", expr, tc.want)
			}
		})
	}
}
