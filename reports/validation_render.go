package reports

import (
	"bytes"
	"fmt"
	"strconv"
	"strings"
)

// The validations after updates and the backups before them, as tables
// shared by the Markdown and HTML renderers, and as JUnit properties.

var (
	validationCheckHeader = []string{"Validation", "Check", "Result", "Detail"}
	comparisonHeader      = []string{"Validation", "Metric", "Baseline", "After", "Change", "Tolerance", "Floor", "Verdict"}
	updateBackupHeader    = []string{"Rollout", "Target", "Backup", "Taken", "Files", "Bytes", "Seconds", "Verified", "After an automatic rollback"}
)

// mdValidations writes the validation and backup sections of report.md.
func mdValidations(b *bytes.Buffer, r *Report) {
	mdSection(b, "Backups before updates", updateBackupHeader, updateBackupRows(r.Rollouts))
	mdSection(b, "Validation after the update: functional checks", validationCheckHeader, validationCheckRows(r.Validations))
	mdSection(b, "Validation after the update: performance against the baseline", comparisonHeader, comparisonRows(r.Validations))
	notes := validationNotes(r.Validations)
	for _, n := range notes {
		b.WriteString("\n- " + mdEsc(n))
	}
	if len(notes) > 0 {
		b.WriteString("\n")
	}
}

// htmlValidations adds the same tables through add (title, head, rows, empty).
func htmlValidations(r *Report, add func(title string, head []string, rows [][]string, empty string)) {
	add("Backups before updates", updateBackupHeader, updateBackupRows(r.Rollouts), "")
	add("Validation after the update: functional checks", validationCheckHeader, validationCheckRows(r.Validations), "")
	add("Validation after the update: performance against the baseline", comparisonHeader, comparisonRows(r.Validations), "")
	var notes [][]string
	for _, n := range validationNotes(r.Validations) {
		notes = append(notes, []string{n})
	}
	add("Validation notes", []string{"Note"}, notes, "")
}

func updateBackupRows(rs []Rollout) [][]string {
	var rows [][]string
	for _, ro := range rs {
		b := ro.Backup
		if b == nil {
			continue
		}
		dir, verified := b.Dir, "no"
		if dir == "" {
			dir = "none: " + b.Note
		} else if b.Note != "" {
			dir += " (" + b.Note + ")"
		}
		if b.Verified {
			verified = "yes"
		}
		taken, files, size, secs := "-", "-", "-", "-"
		if !b.TakenAt.IsZero() {
			taken, files, size, secs = fmtTime(b.TakenAt), strconv.Itoa(b.Files), strconv.FormatInt(b.Bytes, 10), fmtSeconds(b.Seconds)
		}
		rows = append(rows, []string{ro.Kind, ro.Target, dir, taken, files, size, secs, verified, restoredText(b.Restored)})
	}
	return rows
}

// restoredText says what the restore after an automatic rollback did.
func restoredText(r *BackupRestore) string {
	if r == nil {
		return "-"
	}
	what := "restored " + strings.Join(r.Parts, " and ") + ": "
	switch {
	case r.Error != "":
		what += "failed: " + r.Error
	case len(r.Changed) == 0:
		what += "nothing differed"
	default:
		what += fmt.Sprintf("%d %s put back (%s)", len(r.Changed), plural(len(r.Changed), "file", "files"), strings.Join(r.Changed, ", "))
	}
	if r.GoldenPromptMatch != nil {
		what += fmt.Sprintf("; golden prompt as at backup time: %t", *r.GoldenPromptMatch)
	}
	return what + fmt.Sprintf(" in %s", fmtSeconds(r.Seconds))
}

func validationCheckRows(vs []Validation) [][]string {
	var rows [][]string
	for _, v := range vs {
		for _, c := range v.Checks {
			rows = append(rows, []string{v.Step, c.Name, passFail(c.Passed), c.Detail})
		}
	}
	return rows
}

func passFail(ok bool) string {
	if ok {
		return "passed"
	}
	return "failed"
}

func comparisonRows(vs []Validation) [][]string {
	var rows [][]string
	for _, v := range vs {
		for _, c := range v.Comparison {
			verdict := c.Verdict
			if c.Detail != "" {
				verdict += ": " + c.Detail
			}
			rows = append(rows, []string{v.Step, c.Metric, optUnit(c.Baseline, c.Unit), optUnit(c.After, c.Unit), changeText(c),
				strconv.FormatFloat(c.TolerancePct, 'f', -1, 64) + "%", fmtUnit(c.Floor, c.Unit), verdict})
		}
	}
	return rows
}

func optUnit(v *float64, unit string) string {
	if v == nil {
		return NotMeasured
	}
	return fmtUnit(*v, unit)
}

func changeText(c ComparisonRow) string {
	if c.ChangePct == nil {
		return "-"
	}
	return fmt.Sprintf("%+.1f%%", *c.ChangePct)
}

// validationNotes are each validation's notes, prefixed with its step.
func validationNotes(vs []Validation) []string {
	var out []string
	for _, v := range vs {
		for _, n := range v.Notes {
			out = append(out, v.Step+": "+n)
		}
	}
	return out
}

// validationProperties are the JUnit properties of the validations:
// validation.STEP.passed and validation.STEP.METRIC ("0.012 -> 0.013 (ok)",
// in the metric's unit).
func validationProperties(r *Report) []JUnitProperty {
	var p []JUnitProperty
	for _, v := range r.Validations {
		p = append(p, JUnitProperty{"validation." + v.Step + ".passed", strconv.FormatBool(v.Passed)})
		for _, c := range v.Comparison {
			val := c.Verdict
			if c.Baseline != nil && c.After != nil {
				val = sig(*c.Baseline) + " -> " + sig(*c.After) + " (" + c.Verdict + ")"
			}
			p = append(p, JUnitProperty{"validation." + v.Step + "." + c.Metric, val})
		}
	}
	return p
}

// sig renders a value with four significant digits.
func sig(v float64) string { return strconv.FormatFloat(v, 'g', 4, 64) }
