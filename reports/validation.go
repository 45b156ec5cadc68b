package reports

import "time"

// BackupRef is the verified backup a rollout took before it touched
// anything, or a note saying why it took none.
type BackupRef struct {
	// Dir is the snapshot directory (empty when no backup was taken).
	Dir     string    `json:"dir,omitempty"`
	TakenAt time.Time `json:"taken_at,omitzero"`
	Files   int       `json:"files"`
	Bytes   int64     `json:"bytes"`
	// Seconds is the time to take the backup and verify every checksum.
	Seconds float64 `json:"seconds"`
	// Verified is whether every file matched its manifest checksum.
	Verified bool `json:"verified"`
	// Note says why no backup was taken (the step opted out, the stack has
	// no volumes), or what the reader should know about it.
	Note string `json:"note,omitempty"`
	// Restored is what the restore after an automatic rollback put back
	// from this backup.
	Restored *BackupRestore `json:"restored,omitempty"`
}

// BackupRestore is the restore of models and configuration from a
// rollout's backup after the rollout rolled back automatically.
type BackupRestore struct {
	// Parts are what was restored: models, config (never the gateway's
	// data: its restore stops the gateway).
	Parts []string `json:"parts"`
	// Changed are the backup's files whose live copy differed and were put
	// back (empty: nothing differed).
	Changed []string `json:"changed"`
	Seconds float64  `json:"seconds"`
	// GoldenPromptMatch is whether every replica answers the golden prompt
	// as it did at backup time after the restore.
	GoldenPromptMatch *bool `json:"golden_prompt_match,omitempty"`
	// Error is why the restore failed.
	Error string `json:"error,omitempty"`
}

// Validation is the validation after an update: functional checks and a
// performance comparison against a baseline measured earlier in the run.
type Validation struct {
	Step   string `json:"step"`
	Passed bool   `json:"passed"`
	// Checks are the functional checks: every service healthy, the golden
	// prompt, a real completion through the gateway.
	Checks []ValidationCheck `json:"checks"`
	// Baseline is the step whose probe traffic is the baseline, After the
	// step (or the validate step itself) whose traffic was compared to it.
	Baseline string `json:"baseline,omitempty"`
	After    string `json:"after,omitempty"`
	// Comparison is one row per metric (empty without a baseline).
	Comparison []ComparisonRow `json:"comparison,omitempty"`
	// Notes say what was not compared and why.
	Notes []string `json:"notes,omitempty"`
}

// ValidationCheck is one functional check.
type ValidationCheck struct {
	Name   string `json:"name"`
	Passed bool   `json:"passed"`
	Detail string `json:"detail"`
}

// Verdicts of a comparison row.
const (
	// ComparisonOK: not worse beyond the tolerance (or better).
	ComparisonOK = "ok"
	// ComparisonUnderFloor: worse beyond the tolerance, but by less than
	// the absolute floor (a 2 ms to 3 ms change is not a regression).
	ComparisonUnderFloor = "ok (under the floor)"
	// ComparisonRegression: worse beyond both the tolerance and the floor.
	ComparisonRegression = "regression"
	// ComparisonNotMeasured: a window had nothing to measure (Detail says
	// why); not a regression.
	ComparisonNotMeasured = NotMeasured
)

// ComparisonRow compares one metric between the baseline window and the
// window after the update.
type ComparisonRow struct {
	// Metric is latency_p50, latency_p95, ttft_p95, throughput or error_rate.
	Metric string `json:"metric"`
	// Unit is seconds, req/s or ratio (error rate, 0..1).
	Unit string `json:"unit"`
	// Baseline and After are absent when not measured.
	Baseline *float64 `json:"baseline,omitempty"`
	After    *float64 `json:"after,omitempty"`
	// ChangePct is (after - baseline) / baseline in percent (absent when
	// the baseline is 0 or either is not measured).
	ChangePct *float64 `json:"change_pct,omitempty"`
	// TolerancePct is the relative worsening allowed, in percent.
	TolerancePct float64 `json:"tolerance_pct"`
	// Floor is the absolute worsening allowed, in Unit: a change beyond
	// the tolerance but under the floor is not a regression.
	Floor float64 `json:"floor"`
	// HigherIsBetter marks throughput.
	HigherIsBetter bool   `json:"higher_is_better,omitempty"`
	Verdict        string `json:"verdict"`
	Detail         string `json:"detail,omitempty"`
}
