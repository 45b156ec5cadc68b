package notice

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"

	"github.com/aiuptime/aiuptime/reports"
)

// ErrNoHistoryDir marks a --history directory that does not exist.
var ErrNoHistoryDir = errors.New("no such history directory")

// Run is one earlier run of the plan.
type Run struct {
	// Path is the report.json it was read from.
	Path   string
	Report *reports.Report
}

// History is the earlier runs of a plan, found in run directories.
type History struct {
	// Runs are the runs of the plan, oldest first.
	Runs []Run
	// Skipped counts the report.json files of other plans that were found
	// and left out; SkippedPlans names those plans, sorted.
	Skipped      int
	SkippedPlans []string
	// Empty lists the directories given that held no report.json.
	Empty []string
}

// LoadHistory finds the earlier runs of the plan named planName in dirs.
// Each dir is a run's output directory holding report.json (or that file
// itself), or a directory of such directories, one or two levels down
// (runs/2026-11/run-3/report.json). Reports of other plans are skipped and
// counted; a file found twice is read once. A dir that does not exist is an
// error (ErrNoHistoryDir), and so is a report.json that cannot be read as a
// report: the error names the file, and the line and column where it can
// (reports.Read).
func LoadHistory(planName string, dirs []string) (History, error) {
	var h History
	seen := map[string]bool{}
	other := map[string]bool{}
	for _, dir := range dirs {
		files, err := reportFiles(dir)
		if err != nil {
			return History{}, err
		}
		if len(files) == 0 {
			h.Empty = append(h.Empty, dir)
		}
		for _, f := range files {
			if abs, err := filepath.Abs(f); err == nil {
				f = abs
			}
			if seen[f] {
				continue
			}
			seen[f] = true
			d, err := reports.Read(f)
			if err != nil {
				return History{}, err
			}
			if d.Report.Plan != planName {
				h.Skipped++
				other[d.Report.Plan] = true
				continue
			}
			h.Runs = append(h.Runs, Run{Path: d.Path, Report: d.Report})
		}
	}
	for name := range other {
		h.SkippedPlans = append(h.SkippedPlans, name)
	}
	slices.Sort(h.SkippedPlans)
	slices.SortStableFunc(h.Runs, func(a, b Run) int { return a.Report.StartedAt.Compare(b.Report.StartedAt) })
	return h, nil
}

// reportFiles lists the report.json files of dir: the file itself, its
// own, or else those one and two directory levels below it, sorted.
func reportFiles(dir string) ([]string, error) {
	st, err := os.Stat(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("history %s: %w", dir, ErrNoHistoryDir)
	}
	if err != nil {
		return nil, fmt.Errorf("history %s: %w", dir, err)
	}
	if !st.IsDir() {
		return []string{dir}, nil
	}
	own := filepath.Join(dir, reports.FileJSON)
	if _, err := os.Stat(own); err == nil {
		return []string{own}, nil
	}
	var files []string
	for _, pattern := range []string{"*", filepath.Join("*", "*")} {
		found, err := filepath.Glob(filepath.Join(globEscape(dir), pattern, reports.FileJSON))
		if err != nil {
			return nil, fmt.Errorf("history %s: %w", dir, err)
		}
		files = append(files, found...)
	}
	slices.Sort(files)
	return files, nil
}

// globEscape makes dir match itself only in a glob pattern.
func globEscape(dir string) string {
	var b []byte
	for i := 0; i < len(dir); i++ {
		switch dir[i] {
		case '*', '?', '[', '\\':
			b = append(b, '\\')
		}
		b = append(b, dir[i])
	}
	return string(b)
}
