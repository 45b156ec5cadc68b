// Package slo judges an uptime.Analysis against service level objectives:
// compliance, error budget, burn rate, the Google SRE multiwindow
// multi-burn-rate alerts, and the seed's letter grade. Objectives come from
// a plan's slo block (Spec) and from OpenSLO v1 files (ParseOpenSLO).
//
// # OpenSLO v1 input
//
// A file holds OpenSLO v1 objects: documents separated by ---, a list of
// objects, or both. Objects of kind SLO are judged; SLI objects are what
// their indicatorRef names (resolved within the same file, before or after
// the SLO); Service, DataSource, AlertPolicy, AlertCondition and
// AlertNotificationTarget objects are accepted and not used. Decoding is
// strict: an unknown key is an error at file:line:col with its field.
//
// What the drill measures for each SLI is read from the SLI's metric
// structure and the objective, never from query text:
//
//   - ratioMetric (good/total, bad/total or raw with rawType): the share of
//     good events, which the drill measures as the share of its probe's
//     requests that succeeded (errors and truncated streams count against):
//     an availability objective whose target is the objective's target.
//     Occurrences judges over requests; Timeslices splits the run into
//     timeSliceWindow slices, a slice being good when at least
//     timeSliceTarget of its requests succeeded, and judges good slices /
//     slices with requests; RatioTimeslices judges the mean of the slices'
//     success ratios.
//   - thresholdMetric with op lt or lte: a latency objective, "target of
//     the requests take at most value" (Occurrences: the target-th
//     percentile of end-to-end latency is at most value). value is in
//     seconds, Prometheus's base unit, unless the annotation
//     aiuptime/unit says ms.
//   - thresholdMetric with op gt or gte: a lower bound on a quantity the
//     drill cannot name from the structure: not evaluated.
//
// The annotation aiuptime/measure on the SLI (or inline indicator, else the
// SLO) overrides the default: availability or none for a ratioMetric;
// latency, ttft (time to first token, streaming probes) or none for a
// thresholdMetric. none, a lower-bound threshold and a time-sliced
// threshold (the probe gives no per-slice percentile) are kept as
// objectives that are not evaluated, with the reason, so the reports list
// them as "not evaluated: why"; they are never dropped or faked.
//
// The time window (rolling, or calendar-aligned with calendar.startTime and
// timeZone) sets Period, which scales the error budget a drill consumes.
// Duration shorthands m, h, d, w are exact; M, Q and Y are 30, 90 and 365
// days for rolling windows and calendar months, quarters and years from
// startTime for calendar windows.
//
// targetPercent is target in percent; both are in [0, 1) and [0, 100) as
// the specification says. A value on a ratioMetric objective, a second
// objective on a thresholdMetric, good with bad, raw with good, bad or
// total, and timeSliceTarget or timeSliceWindow under Occurrences are
// errors, each at file:line:col with its field.
//
// A plan names the file with slo.openslo (relative to the plan, inside its
// directory); its objectives are judged beside the slo block's own. With
// monitoring on, every ratio SLI whose metric sources are of type
// Prometheus (spec.query) also becomes recording rules of its error ratio
// and multiwindow burn-rate alerts in the drill's Prometheus
// (monitor/rules.OpenSLOGroups); the drill's Prometheus only holds the
// stack's own series, so queries on other metrics record nothing there.
package slo
