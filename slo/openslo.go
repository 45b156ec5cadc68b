package slo

import (
	"fmt"
	"strings"

	"github.com/aiuptime/aiuptime/internal/yamldoc"
)

// Annotation keys the harness reads on OpenSLO objects.
const (
	// AnnotationMeasure names what the drill measures for an SLI:
	// availability, latency, ttft or none.
	AnnotationMeasure = "aiuptime/measure"
	// AnnotationUnit is the unit of a latency threshold's value: s
	// (default) or ms.
	AnnotationUnit = "aiuptime/unit"
)

// OpenSLO is what an OpenSLO file gives a drill.
type OpenSLO struct {
	// File is the file the objects were read from.
	File string
	// Objectives are every SLO objective in file order, those the drill
	// cannot evaluate included (Objective.NotEvaluated says why).
	Objectives []Objective
	// Ratios are the ratio SLIs whose metric sources are Prometheus
	// queries, for recording and alerting rules.
	Ratios []RatioSLI
}

// RatioSLI is one ratioMetric objective whose queries are PromQL.
type RatioSLI struct {
	// Name is the objective's name (the SLO's, "/displayName" when it has
	// several).
	Name string
	// Good or Bad (one of them) and Total are the queries; Raw is a
	// precomputed ratio instead, of successes (RawFailure false) or
	// failures.
	Good, Bad, Total, Raw string
	RawFailure            bool
	// Counter says the queries are monotonically increasing counters.
	Counter bool
	// Target is the share of good events the objective asks for.
	Target Objective
}

type osMeta struct {
	Name        string            `yaml:"name"`
	DisplayName string            `yaml:"displayName"`
	Labels      map[string]any    `yaml:"labels"`
	Annotations map[string]string `yaml:"annotations"`
}

type osSource struct {
	MetricSourceRef string         `yaml:"metricSourceRef"`
	Type            string         `yaml:"type"`
	Spec            map[string]any `yaml:"spec"`
}

type osMetric struct {
	MetricSource *osSource `yaml:"metricSource"`
}

type osRatio struct {
	Counter *bool     `yaml:"counter"`
	Good    *osMetric `yaml:"good"`
	Bad     *osMetric `yaml:"bad"`
	Total   *osMetric `yaml:"total"`
	RawType string    `yaml:"rawType"`
	Raw     *osMetric `yaml:"raw"`
}

type osSLISpec struct {
	Description     string    `yaml:"description"`
	ThresholdMetric *osMetric `yaml:"thresholdMetric"`
	RatioMetric     *osRatio  `yaml:"ratioMetric"`
}

type osIndicator struct {
	Metadata osMeta    `yaml:"metadata"`
	Spec     osSLISpec `yaml:"spec"`
}

type osObjective struct {
	DisplayName     string   `yaml:"displayName"`
	Op              string   `yaml:"op"`
	Value           *float64 `yaml:"value"`
	Target          *float64 `yaml:"target"`
	TargetPercent   *float64 `yaml:"targetPercent"`
	TimeSliceTarget *float64 `yaml:"timeSliceTarget"`
	TimeSliceWindow any      `yaml:"timeSliceWindow"`
}

type osCalendar struct {
	StartTime string `yaml:"startTime"`
	TimeZone  string `yaml:"timeZone"`
}

type osWindow struct {
	Duration  string      `yaml:"duration"`
	IsRolling *bool       `yaml:"isRolling"`
	Calendar  *osCalendar `yaml:"calendar"`
}

type osSLOSpec struct {
	Description     string        `yaml:"description"`
	Service         string        `yaml:"service"`
	Indicator       *osIndicator  `yaml:"indicator"`
	IndicatorRef    string        `yaml:"indicatorRef"`
	TimeWindow      []osWindow    `yaml:"timeWindow"`
	BudgetingMethod string        `yaml:"budgetingMethod"`
	Objectives      []osObjective `yaml:"objectives"`
	AlertPolicies   []any         `yaml:"alertPolicies"`
}

type osSLO struct {
	APIVersion string    `yaml:"apiVersion"`
	Kind       string    `yaml:"kind"`
	Metadata   osMeta    `yaml:"metadata"`
	Spec       osSLOSpec `yaml:"spec"`
}

type osSLI struct {
	APIVersion string    `yaml:"apiVersion"`
	Kind       string    `yaml:"kind"`
	Metadata   osMeta    `yaml:"metadata"`
	Spec       osSLISpec `yaml:"spec"`
}

type osOther struct {
	APIVersion string         `yaml:"apiVersion"`
	Kind       string         `yaml:"kind"`
	Metadata   osMeta         `yaml:"metadata"`
	Spec       map[string]any `yaml:"spec"`
}

// OpenSLO v1 kinds.
const (
	openSLOVersion = "openslo/v1"
	kindSLO        = "SLO"
	kindSLI        = "SLI"
)

var otherKinds = []string{"Service", "DataSource", "AlertPolicy", "AlertCondition", "AlertNotificationTarget"}

// IsOpenSLO reports whether data looks like an OpenSLO file: its first
// object's apiVersion starts with "openslo/". It reads no further and
// checks nothing else.
func IsOpenSLO(data []byte) bool {
	for _, line := range strings.Split(string(data), "\n") {
		line = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(line), "- "))
		if v, ok := strings.CutPrefix(line, "apiVersion:"); ok {
			return strings.HasPrefix(strings.Trim(strings.TrimSpace(v), `"'`), "openslo/")
		}
	}
	return false
}

// LoadOpenSLO reads and parses the OpenSLO file at path (at most
// yamldoc.MaxBytes).
func LoadOpenSLO(path string) (*OpenSLO, error) {
	b, err := yamldoc.ReadFile(path, "OpenSLO file")
	if err != nil {
		return nil, err
	}
	return ParseOpenSLO(path, b)
}

// ParseOpenSLO reads an OpenSLO v1 file (see the package's OpenSLO notes
// above). file names it in errors, which are yamldoc.Errors (each at
// file:line:col with its field) or a *yamldoc.Error.
func ParseOpenSLO(file string, data []byte) (*OpenSLO, error) {
	docs, err := yamldoc.ParseAll(file, data, "an OpenSLO file")
	if err != nil {
		return nil, err
	}
	p := &osParse{file: file, slis: map[string]*osSLI{}, sliDoc: map[string]*yamldoc.Doc{}, names: map[string]bool{}}
	var slos []int
	for i, d := range docs {
		if p.object(d) == kindSLO {
			slos = append(slos, i)
		}
	}
	out := &OpenSLO{File: file}
	for _, i := range slos {
		p.slo(docs[i], out)
	}
	if len(p.errs) == 0 && len(out.Objectives) == 0 {
		p.errs = append(p.errs, &yamldoc.Error{File: file, Msg: "no SLO object in the file"})
	}
	if len(p.errs) > 0 {
		return nil, p.errs.Sorted()
	}
	return out, nil
}

// osParse collects what a file's objects say and every problem in them.
type osParse struct {
	file   string
	errs   yamldoc.Errors
	slis   map[string]*osSLI
	sliDoc map[string]*yamldoc.Doc
	names  map[string]bool // objective names seen
}

func (p *osParse) bad(d *yamldoc.Doc, at yamldoc.Path, format string, args ...any) {
	p.errs = append(p.errs, d.Errorf(at, false, format, args...))
}

// object checks an object's header and records an SLI; it returns the
// kind ("" when the object is broken).
func (p *osParse) object(d *yamldoc.Doc) string {
	version := scalarAt(d, "apiVersion")
	kind := scalarAt(d, "kind")
	if version != openSLOVersion {
		p.bad(d, yamldoc.Path{"apiVersion"}, "%q: want %s", version, openSLOVersion)
		return ""
	}
	switch {
	case kind == kindSLI:
		var s osSLI
		if err := d.Decode(&s); err != nil {
			p.errs = append(p.errs, asDocError(d, err))
			return ""
		}
		if !p.name(d, s.Metadata.Name) {
			return ""
		}
		if _, dup := p.slis[s.Metadata.Name]; dup {
			p.bad(d, yamldoc.Path{"metadata", "name"}, "SLI %q is defined twice in the file", s.Metadata.Name)
			return ""
		}
		p.slis[s.Metadata.Name], p.sliDoc[s.Metadata.Name] = &s, d
	case kind == kindSLO:
	case contains(otherKinds, kind):
		var o osOther
		if err := d.Decode(&o); err != nil {
			p.errs = append(p.errs, asDocError(d, err))
			return ""
		}
		p.name(d, o.Metadata.Name)
	default:
		p.bad(d, yamldoc.Path{"kind"}, "%q: want SLO, SLI, %s", kind, strings.Join(otherKinds, ", "))
		return ""
	}
	return kind
}

// name checks metadata.name is there.
func (p *osParse) name(d *yamldoc.Doc, name string) bool {
	if name == "" {
		p.bad(d, yamldoc.Path{"metadata", "name"}, "required")
		return false
	}
	return true
}

// slo decodes one SLO object and adds its objectives.
func (p *osParse) slo(d *yamldoc.Doc, out *OpenSLO) {
	var s osSLO
	if err := d.Decode(&s); err != nil {
		p.errs = append(p.errs, asDocError(d, err))
		return
	}
	if !p.name(d, s.Metadata.Name) {
		return
	}
	ind, ok := p.indicator(d, &s)
	if !ok {
		return
	}
	m := &sloMapper{p: p, d: d, s: &s, ind: ind}
	m.run(out)
}

// indicator is the SLO's inline indicator or the SLI its indicatorRef
// names, with the document and path its fields are at.
func (p *osParse) indicator(d *yamldoc.Doc, s *osSLO) (boundSLI, bool) {
	switch {
	case s.Spec.Indicator != nil && s.Spec.IndicatorRef != "":
		p.bad(d, yamldoc.Path{"spec", "indicatorRef"}, "give indicator or indicatorRef, not both")
	case s.Spec.Indicator != nil:
		return boundSLI{doc: d, at: yamldoc.Path{"spec", "indicator", "spec"}, meta: s.Spec.Indicator.Metadata, spec: s.Spec.Indicator.Spec}, true
	case s.Spec.IndicatorRef != "":
		sli, ok := p.slis[s.Spec.IndicatorRef]
		if !ok {
			p.bad(d, yamldoc.Path{"spec", "indicatorRef"}, "%q: no SLI of that name in this file", s.Spec.IndicatorRef)
			return boundSLI{}, false
		}
		return boundSLI{doc: p.sliDoc[s.Spec.IndicatorRef], at: yamldoc.Path{"spec"}, meta: sli.Metadata, spec: sli.Spec, ref: true}, true
	default:
		p.bad(d, yamldoc.Path{"spec"}, "indicator or indicatorRef: one is required")
	}
	return boundSLI{}, false
}

// boundSLI is an SLI with where its spec lives (the SLO's inline indicator
// or an SLI object), so errors point into the right object.
type boundSLI struct {
	doc  *yamldoc.Doc
	at   yamldoc.Path // of the SLI spec
	meta osMeta
	spec osSLISpec
	ref  bool
}

// metaAt is the path of the SLI's metadata.
func (b boundSLI) metaAt() yamldoc.Path {
	if b.ref {
		return yamldoc.Path{"metadata"}
	}
	return yamldoc.Path{"spec", "indicator", "metadata"}
}

func (b boundSLI) bad(p *osParse, format string, args ...any) {
	p.bad(b.doc, b.at, format, args...)
}

// scalarAt is the text of a top-level scalar field, "" when absent.
func scalarAt(d *yamldoc.Doc, key string) string {
	n, ok := d.At(yamldoc.Path{key})
	if !ok {
		return ""
	}
	s, _ := yamldoc.Scalar(n)
	return s
}

// asDocError places a decode error in the document (it already is one).
func asDocError(d *yamldoc.Doc, err error) *yamldoc.Error {
	if e, ok := err.(*yamldoc.Error); ok {
		return e
	}
	return &yamldoc.Error{File: d.File, Msg: fmt.Sprintf("cannot decode: %v", err)}
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}
