package rules

import (
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/common/model"

	"github.com/aiuptime/aiuptime/slo"
)

// Rules rendered from an OpenSLO file's ratio SLIs (metric sources of type
// Prometheus): for each SLI, a recording rule of its error ratio over every
// burn-rate window, and the SRE workbook's multiwindow burn-rate alerts.
const (
	// RecordOpenSLOErrorRatio is the prefix of the recorded error ratios of
	// an OpenSLO ratio SLI, one per window with the unscaled window
	// appended ("aiuptime_openslo:sli_error:ratio_rate1h"), labelled slo
	// (the objective's name).
	RecordOpenSLOErrorRatio = "aiuptime_openslo:sli_error:ratio_rate"
	// AlertOpenSLOBudgetBurnPage: an OpenSLO ratio SLI burns its error
	// budget fast (the page windows, scaled), labelled slo.
	AlertOpenSLOBudgetBurnPage = "AiuptimeOpenSLOBudgetBurnPage"
	// AlertOpenSLOBudgetBurnTicket: the same for the ticket windows.
	AlertOpenSLOBudgetBurnTicket = "AiuptimeOpenSLOBudgetBurnTicket"
	// OpenSLOWindowPlaceholder in a query stands for the rate window, as
	// in Sloth's SLI queries (rate(x[{{.window}}])): such a query is used
	// as written.
	OpenSLOWindowPlaceholder = "{{.window}}"
)

// plainSelector matches a bare metric selector (name, optional matchers),
// which a counter's rate can wrap directly.
var plainSelector = regexp.MustCompile(`^(?:[a-zA-Z_:][a-zA-Z0-9_:]*)?(?:\{[^{}]*\})?$`)

// GenerateWithOpenSLO is Generate plus the rules of the ratio SLIs of the
// OpenSLO file the spec's objectives came from (spec.SLO.Loaded), if any.
func GenerateWithOpenSLO(spec Spec) (Result, error) {
	res, err := Generate(spec)
	if err != nil || spec.SLO.Loaded == nil {
		return res, err
	}
	groups, notes := OpenSLOGroups(spec.SLO.Loaded.Ratios, spec)
	res.File.Groups = append(res.File.Groups, groups...)
	res.Notes = append(res.Notes, notes...)
	return res, nil
}

// OpenSLOGroups renders one rule group per ratio SLI, with the timing of
// spec: its Windows (default the workbook's 30-day windows) are divided by
// its Scale (0 or 1: real time) and kept at two scrape intervals at least;
// ScrapeInterval defaults to DefaultScrapeInterval; every alert waits
// ForScrapes (default DefaultForScrapes) scrape intervals and links to
// RunbookURL (default DefaultRunbookURL). A window whose burn threshold is
// 1 or more (it can never fire) is left out, with a note.
func OpenSLOGroups(ratios []slo.RatioSLI, spec Spec) ([]Group, []string) {
	if spec.ScrapeInterval <= 0 {
		spec.ScrapeInterval = DefaultScrapeInterval
	}
	if spec.Windows == nil {
		spec.Windows = slo.GoogleWindows(1)
	}
	if spec.ForScrapes < 1 {
		spec.ForScrapes = DefaultForScrapes
	}
	if spec.RunbookURL == "" {
		spec.RunbookURL = DefaultRunbookURL
	}
	var groups []Group
	var notes []string
	for _, r := range ratios {
		g, n := openSLOGroup(r, spec)
		groups = append(groups, g)
		notes = append(notes, n...)
	}
	return groups, notes
}

func openSLOGroup(r slo.RatioSLI, spec Spec) (Group, []string) {
	scale, scrape, windows := spec.Scale, spec.ScrapeInterval, spec.Windows
	g := Group{Name: "aiuptime-openslo-" + r.Name, Interval: model.Duration(scrape).String()}
	var notes []string
	budget := 1 - r.Target.Target
	scaled := func(d time.Duration) string {
		w, _ := Scaled(d, scale, scrape)
		return promDur(w)
	}
	seen := map[time.Duration]bool{}
	var ds []time.Duration
	for _, w := range windows {
		for _, d := range []time.Duration{w.Long, w.Short} {
			if !seen[d] {
				seen[d] = true
				ds = append(ds, d)
			}
		}
	}
	sort.Slice(ds, func(i, j int) bool { return ds[i] < ds[j] })
	for _, d := range ds {
		g.Rules = append(g.Rules, Rule{Record: RecordOpenSLOErrorRatio + model.Duration(d).String(), Expr: openSLOErrorRatio(r, scaled(d)),
			Labels: map[string]string{"slo": r.Name}})
	}
	conds := map[string][]string{}
	for _, w := range windows {
		threshold := w.Factor * budget
		if threshold >= 1 || budget <= 0 {
			notes = append(notes, fmt.Sprintf("OpenSLO %s: %s window %s/%s omitted: burn threshold %s of an error ratio can never be reached",
				r.Name, w.Name, model.Duration(w.Long), model.Duration(w.Short), fmtRatio(threshold)))
			continue
		}
		sel := func(d time.Duration) string {
			return fmt.Sprintf(`%s%s{slo=%q}`, RecordOpenSLOErrorRatio, model.Duration(d).String(), r.Name)
		}
		conds[w.Severity] = append(conds[w.Severity], fmt.Sprintf("(%s > %s and %s > %s)",
			sel(w.Long), fmtRatio(threshold), sel(w.Short), fmtRatio(threshold)))
	}
	for _, a := range []struct{ sev, name, speed string }{
		{SeverityPage, AlertOpenSLOBudgetBurnPage, "fast"}, {SeverityTicket, AlertOpenSLOBudgetBurnTicket, "slowly"},
	} {
		if len(conds[a.sev]) == 0 {
			continue
		}
		g.Rules = append(g.Rules, Rule{Alert: a.name, Expr: strings.Join(conds[a.sev], " or "),
			For:    promDur(time.Duration(spec.ForScrapes) * scrape),
			Labels: map[string]string{"severity": a.sev, "slo": r.Name},
			Annotations: map[string]string{
				"runbook_url": RunbookURL(spec.RunbookURL, a.name),
				"summary":     fmt.Sprintf("OpenSLO %s burns its error budget %s", r.Name, a.speed),
				"description": fmt.Sprintf("The error ratio of %s over both windows of a burn-rate pair is above the pair's factor times the budget %s (objective %s).",
					r.Name, fmtRatio(budget), fmtRatio(r.Target.Target)),
			}})
	}
	return g, notes
}

// openSLOErrorRatio is the SLI's bad share over window w.
func openSLOErrorRatio(r slo.RatioSLI, w string) string {
	q := func(s string) string { return openSLOQuery(s, r.Counter, w) }
	switch {
	case r.Raw != "" && r.RawFailure:
		return fmt.Sprintf("avg_over_time((%s)[%s:])", r.Raw, w)
	case r.Raw != "":
		return fmt.Sprintf("1 - avg_over_time((%s)[%s:])", r.Raw, w)
	case r.Bad != "":
		return fmt.Sprintf("(%s) / (%s)", q(r.Bad), q(r.Total))
	}
	return fmt.Sprintf("1 - (%s) / (%s)", q(r.Good), q(r.Total))
}

// openSLOQuery turns one of the SLI's queries into a rate (counters) or
// an average (gauges) over window w: a query with the window placeholder
// as written, a bare selector inside rate(), anything else as a subquery.
func openSLOQuery(s string, counter bool, w string) string {
	switch {
	case strings.Contains(s, OpenSLOWindowPlaceholder):
		return strings.ReplaceAll(s, OpenSLOWindowPlaceholder, w)
	case counter && plainSelector.MatchString(s):
		return fmt.Sprintf("sum(rate(%s[%s]))", s, w)
	case counter:
		return fmt.Sprintf("sum(rate((%s)[%s:]))", s, w)
	}
	return fmt.Sprintf("sum(avg_over_time((%s)[%s:]))", s, w)
}

// fmtRatio prints f with at most 12 significant digits.
func fmtRatio(f float64) string {
	r, _ := strconv.ParseFloat(strconv.FormatFloat(f, 'g', 12, 64), 64)
	return strconv.FormatFloat(r, 'g', -1, 64)
}
