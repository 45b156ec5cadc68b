package slo

import (
	"fmt"
	"strings"
	"time"

	"github.com/aiuptime/aiuptime/internal/yamldoc"
)

// Budgeting methods of OpenSLO v1.
const (
	budgetOccurrences     = "Occurrences"
	budgetTimeslices      = "Timeslices"
	budgetRatioTimeslices = "RatioTimeslices"
)

// What an SLI is measured as (AnnotationMeasure values).
const (
	measureAvailability = "availability"
	measureLatency      = "latency"
	measureTTFT         = "ttft"
	measureNone         = "none"
)

// sloMapper turns one SLO object into objectives.
type sloMapper struct {
	p   *osParse
	d   *yamldoc.Doc
	s   *osSLO
	ind boundSLI

	period  time.Duration
	method  string
	measure string
	ratio   bool
}

func (m *sloMapper) at(k ...any) yamldoc.Path { return yamldoc.Path{"spec"}.Add(k...) }

func (m *sloMapper) bad(at yamldoc.Path, format string, args ...any) {
	m.p.bad(m.d, at, format, args...)
}

func (m *sloMapper) run(out *OpenSLO) {
	before := len(m.p.errs)
	m.window()
	m.budgeting()
	m.sli()
	if len(m.s.Spec.Objectives) == 0 {
		m.bad(m.at("objectives"), "at least one objective is required")
	}
	if !m.ratio && len(m.s.Spec.Objectives) > 1 {
		m.bad(m.at("objectives", 1), "a thresholdMetric SLO has exactly one objective")
	}
	if len(m.p.errs) > before {
		return
	}
	for i := range m.s.Spec.Objectives {
		o, ok := m.objective(i)
		if !ok {
			continue
		}
		if m.p.names[o.Name] {
			m.bad(yamldoc.Path{"metadata", "name"}, "objective %q is defined twice in the file", o.Name)
			continue
		}
		m.p.names[o.Name] = true
		out.Objectives = append(out.Objectives, o)
		if r, ok := m.ratioSLI(o); ok {
			out.Ratios = append(out.Ratios, r)
		}
	}
}

// budgeting checks budgetingMethod.
func (m *sloMapper) budgeting() {
	m.method = m.s.Spec.BudgetingMethod
	switch m.method {
	case budgetOccurrences, budgetTimeslices, budgetRatioTimeslices:
	case "":
		m.bad(m.at("budgetingMethod"), "required: Occurrences, Timeslices or RatioTimeslices")
	default:
		m.bad(m.at("budgetingMethod"), "%q: want Occurrences, Timeslices or RatioTimeslices", m.method)
	}
}

// sli checks the indicator's metric structure and reads the measure
// annotation.
func (m *sloMapper) sli() {
	spec, b := m.ind.spec, m.ind
	switch {
	case spec.RatioMetric != nil && spec.ThresholdMetric != nil:
		b.bad(m.p, "give ratioMetric or thresholdMetric, not both")
		return
	case spec.RatioMetric != nil:
		m.ratio = true
		m.checkRatio()
	case spec.ThresholdMetric != nil:
		if spec.ThresholdMetric.MetricSource == nil {
			m.p.bad(b.doc, b.at.Add("thresholdMetric", "metricSource"), "required")
		}
	default:
		b.bad(m.p, "ratioMetric or thresholdMetric: one is required")
		return
	}
	m.measure = b.meta.Annotations[AnnotationMeasure]
	annDoc, annAt := b.doc, b.metaAt()
	if m.measure == "" {
		m.measure, annDoc, annAt = m.s.Metadata.Annotations[AnnotationMeasure], m.d, yamldoc.Path{"metadata"}
	}
	allowed := []string{measureLatency, measureTTFT, measureNone}
	if m.ratio {
		allowed = []string{measureAvailability, measureNone}
	}
	if m.measure != "" && !contains(allowed, m.measure) {
		m.p.bad(annDoc, annAt.Add("annotations", AnnotationMeasure), "%q: for a %s want one of %s",
			m.measure, m.metricName(), strings.Join(allowed, ", "))
	}
	if u := m.unit(); u != "s" && u != "ms" {
		m.bad(yamldoc.Path{"metadata", "annotations", AnnotationUnit}, "%q: want s or ms", u)
	}
}

func (m *sloMapper) metricName() string {
	if m.ratio {
		return "ratioMetric"
	}
	return "thresholdMetric"
}

// unit is the latency value's unit from the annotations (default s).
func (m *sloMapper) unit() string {
	if u := m.ind.meta.Annotations[AnnotationUnit]; u != "" {
		return u
	}
	if u := m.s.Metadata.Annotations[AnnotationUnit]; u != "" {
		return u
	}
	return "s"
}

// checkRatio checks good/bad/total or raw/rawType.
func (m *sloMapper) checkRatio() {
	r, b := m.ind.spec.RatioMetric, m.ind
	at := b.at.Add("ratioMetric")
	switch {
	case r.Raw != nil:
		if r.Good != nil || r.Bad != nil || r.Total != nil {
			m.p.bad(b.doc, at.Add("raw"), "raw cannot be used together with good, bad or total")
		}
		if r.RawType != "success" && r.RawType != "failure" {
			m.p.bad(b.doc, at.Add("rawType"), "%q: want success or failure with raw", r.RawType)
		}
	case r.Total == nil:
		m.p.bad(b.doc, at, "total (with good or bad), or raw, is required")
	case r.Good != nil && r.Bad != nil:
		m.p.bad(b.doc, at.Add("bad"), "give good or bad, not both")
	case r.Good == nil && r.Bad == nil:
		m.p.bad(b.doc, at, "good or bad is required with total")
	case r.RawType != "":
		m.p.bad(b.doc, at.Add("rawType"), "only with raw")
	}
}

// objective maps spec.objectives[i].
func (m *sloMapper) objective(i int) (Objective, bool) {
	ob := m.s.Spec.Objectives[i]
	at := m.at("objectives", i)
	target, ok := m.target(ob, at)
	if !ok {
		return Objective{}, false
	}
	name := m.s.Metadata.Name
	if len(m.s.Spec.Objectives) > 1 {
		name += "/" + cmpOr(ob.DisplayName, fmt.Sprint(i))
	}
	o := Objective{Name: name, Period: m.period}
	if !m.slices(&o, ob, at) {
		return Objective{}, false
	}
	if m.ratio {
		if ob.Value != nil {
			m.bad(at.Add("value"), "only for a thresholdMetric")
			return Objective{}, false
		}
		o.Kind, o.Target = KindAvailability, target
		if m.measure == measureNone {
			o.NotEvaluated = "annotated " + AnnotationMeasure + ": none"
		}
		return o, m.valid(o, at)
	}
	return m.threshold(o, ob, target, at)
}

// threshold maps a thresholdMetric objective.
func (m *sloMapper) threshold(o Objective, ob osObjective, target float64, at yamldoc.Path) (Objective, bool) {
	if ob.Value == nil {
		m.bad(at.Add("value"), "required for a thresholdMetric")
		return Objective{}, false
	}
	upper := ob.Op == "lt" || ob.Op == "lte"
	if !upper && ob.Op != "gt" && ob.Op != "gte" {
		m.bad(at.Add("op"), "%q: want lt, lte, gt or gte for a thresholdMetric", ob.Op)
		return Objective{}, false
	}
	o.Kind, o.Target, o.Percentile, o.TimeBased = KindLatency, *ob.Value, target, false
	if m.measure == measureTTFT {
		o.Kind = KindTTFT
	}
	if m.unit() == "ms" {
		o.Target /= 1000
	}
	switch {
	case m.measure == measureNone:
		o.Kind = KindThreshold
		o.NotEvaluated = "annotated " + AnnotationMeasure + ": none"
	case !upper && m.measure == "":
		o.Kind = KindThreshold
		o.NotEvaluated = fmt.Sprintf("op %s bounds a quantity from below, and the probe measures no such quantity (annotate %s to say what it is)", ob.Op, AnnotationMeasure)
	case !upper:
		m.bad(at.Add("op"), "%q: %s needs lt or lte", ob.Op, o.Kind)
		return Objective{}, false
	case m.method != budgetOccurrences:
		o.NotEvaluated = fmt.Sprintf("%s budgeting of a threshold needs a per-slice %s the probe does not compute (use Occurrences)", m.method, o.Kind)
	case !(target > 0):
		m.bad(at.Add("target"), "%v: a %s objective needs a target above 0 (the share of requests within value)", target, o.Kind)
		return Objective{}, false
	}
	if o.NotEvaluated != "" {
		o.Percentile = 0
	}
	o.SliceWindow, o.SliceTarget, o.SliceMean = 0, 0, false
	return o, m.valid(o, at)
}

// valid runs Objective.Validate and places its error.
func (m *sloMapper) valid(o Objective, at yamldoc.Path) bool {
	if err := o.Validate(); err != nil {
		m.bad(at, "%v", err)
		return false
	}
	return true
}

// target reads target or targetPercent as a fraction in [0, 1).
func (m *sloMapper) target(ob osObjective, at yamldoc.Path) (float64, bool) {
	switch {
	case ob.Target != nil && ob.TargetPercent != nil:
		m.bad(at.Add("targetPercent"), "give target or targetPercent, not both")
	case ob.Target != nil:
		if t := *ob.Target; t >= 0 && t < 1 {
			return t, true
		}
		m.bad(at.Add("target"), "%v: want a fraction in [0, 1)", *ob.Target)
	case ob.TargetPercent != nil:
		if t := *ob.TargetPercent; t >= 0 && t < 100 {
			return t / 100, true
		}
		m.bad(at.Add("targetPercent"), "%v: want a percentage in [0, 100)", *ob.TargetPercent)
	default:
		m.bad(at, "target or targetPercent is required")
	}
	return 0, false
}

// slices reads timeSliceTarget and timeSliceWindow for the time-slice
// budgeting methods (and refuses them for Occurrences).
func (m *sloMapper) slices(o *Objective, ob osObjective, at yamldoc.Path) bool {
	if m.method == budgetOccurrences {
		if ob.TimeSliceTarget != nil || ob.TimeSliceWindow != nil {
			m.bad(at.Add("timeSliceWindow"), "only with budgetingMethod Timeslices or RatioTimeslices")
			return false
		}
		return true
	}
	if ob.TimeSliceWindow == nil {
		m.bad(at.Add("timeSliceWindow"), "required with budgetingMethod %s", m.method)
		return false
	}
	w, err := sliceWindow(ob.TimeSliceWindow)
	if err != nil {
		m.bad(at.Add("timeSliceWindow"), "%v", err)
		return false
	}
	o.TimeBased, o.SliceWindow = true, w
	if m.method == budgetRatioTimeslices {
		o.SliceMean = true
		return true
	}
	if ob.TimeSliceTarget == nil {
		m.bad(at.Add("timeSliceTarget"), "required with budgetingMethod Timeslices")
		return false
	}
	if t := *ob.TimeSliceTarget; !(t > 0 && t <= 1) {
		m.bad(at.Add("timeSliceTarget"), "%v: want a fraction in (0, 1]", t)
		return false
	}
	o.SliceTarget = *ob.TimeSliceTarget
	return true
}

// ratioSLI is the objective's ratio queries when they are Prometheus's.
func (m *sloMapper) ratioSLI(o Objective) (RatioSLI, bool) {
	r := m.ind.spec.RatioMetric
	if r == nil {
		return RatioSLI{}, false
	}
	out := RatioSLI{Name: o.Name, Target: o, Counter: r.Counter != nil && *r.Counter, RawFailure: r.RawType == "failure"}
	for _, q := range []struct {
		src *osMetric
		dst *string
	}{{r.Good, &out.Good}, {r.Bad, &out.Bad}, {r.Total, &out.Total}, {r.Raw, &out.Raw}} {
		if q.src == nil {
			continue
		}
		s, ok := promQuery(q.src)
		if !ok {
			return RatioSLI{}, false
		}
		*q.dst = s
	}
	return out, true
}

// promQuery is a metric source's PromQL query, when its type is
// Prometheus and its spec holds a query.
func promQuery(mt *osMetric) (string, bool) {
	if mt.MetricSource == nil || !strings.EqualFold(mt.MetricSource.Type, "prometheus") {
		return "", false
	}
	q, ok := mt.MetricSource.Spec["query"].(string)
	q = strings.TrimSpace(q)
	return q, ok && q != ""
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}
