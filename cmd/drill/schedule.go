package main

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"text/template"
	"time"

	"github.com/spf13/cobra"

	"github.com/aiuptime/aiuptime/calendar"
	"github.com/aiuptime/aiuptime/drill/plan"
	"github.com/aiuptime/aiuptime/exitcode"
)

func init() {
	addCommand(newScheduleCmd)
	argCompletions["drill schedule"] = completePlans(1)
}

// Defaults of drill schedule.
const (
	DefaultScheduleImage   = "aiuptime/drill:dev"
	DefaultScheduleReports = "/var/lib/aiuptime/reports"
	DefaultScheduleCount   = 5
	// scheduleDeadline is how late the CronJob controller may still start a
	// missed run (its startingDeadlineSeconds); later runs are skipped.
	scheduleDeadline = 10 * time.Minute
)

// Formats of drill schedule.
const (
	formatSystemd = "systemd"
	formatCronJob = "cronjob"
	formatAll     = "all"
)

type scheduleArgs struct {
	format, out, drill, image, reports string
	check                              bool
	count                              int
}

func newScheduleCmd() *cobra.Command {
	var a scheduleArgs
	cmd := &cobra.Command{
		Use:   "schedule PLAN",
		Short: "Print a systemd service and timer and a Kubernetes CronJob that run a plan in its maintenance window",
		Long: `Print ready-to-install schedules for the plan's maintenance window (its window key):
a systemd service and timer pair (OnCalendar is the window's opening time, exactly)
and a Kubernetes CronJob (batch/v1, in the window's time zone). Cron cannot say "the
first Saturday of the month": for a monthly or quarterly window the CronJob fires on
every matching weekday and its runs outside the window skip (drill run
--skip-outside-window). With --out the files are written to a directory.

--check lists the next window openings instead, in the window's zone and UTC.
A plan without a window, or with window: any, has nothing to schedule (exit 2).`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			switch a.format {
			case formatSystemd, formatCronJob, formatAll:
			default:
				return exitcode.Wrap(exitcode.Usage, fmt.Errorf("--format %q: want systemd, cronjob or all", a.format))
			}
			if a.count < 1 {
				return exitcode.Wrap(exitcode.Usage, fmt.Errorf("--count %d: want at least 1", a.count))
			}
			return schedule(cmd.OutOrStdout(), args[0], a, time.Now())
		},
	}
	f := cmd.Flags()
	f.StringVar(&a.format, "format", formatAll, "what to print: systemd (service and timer), cronjob, or all")
	f.StringVar(&a.out, "out", "", "write the files to this directory instead of printing them")
	f.StringVar(&a.drill, "drill", "", "path of the drill binary in the service's ExecStart (default: this binary)")
	f.StringVar(&a.image, "image", DefaultScheduleImage, "container image of the CronJob, holding drill as its entrypoint")
	f.StringVar(&a.reports, "reports", DefaultScheduleReports, "directory the systemd service writes each run's reports under (PLAN/DATE)")
	f.BoolVar(&a.check, "check", false, "list the next window openings instead of printing schedules")
	f.IntVar(&a.count, "count", DefaultScheduleCount, "how many openings --check lists")
	_ = cmd.RegisterFlagCompletionFunc("format", completeFixed(formatSystemd, formatCronJob, formatAll))
	_ = cmd.RegisterFlagCompletionFunc("image", cobra.NoFileCompletions)
	_ = cmd.MarkFlagFilename("drill")
	return cmd
}

// scheduled is a plan with a window that opens at times: what the
// generators need.
type scheduled struct {
	Plan    *plan.Plan
	Ref     string // how drill run is given the plan: an absolute path, or a shipped plan's name
	Cal     calendar.Window
	Drill   string // absolute path of the drill binary
	Image   string
	Reports string
}

func schedule(w io.Writer, arg string, a scheduleArgs, now time.Time) error {
	p, err := loadPlan(arg)
	if err != nil {
		return err
	}
	cal, err := p.Window.Calendar()
	if err != nil {
		return exitcode.Wrap(exitcode.Usage, err)
	}
	if p.Window == nil || cal.Always {
		return p.WindowErrorf("plan %s runs at any time (no window, or window: any): nothing to schedule; give it a window such as {days: [sat], start: \"02:00\", end: \"06:00\", tz: UTC}", p.Name)
	}
	if a.check {
		fmt.Fprintf(w, "plan %s: maintenance window %s; the next %d openings:\n", p.Name, cal, a.count)
		windowOpenings(w, cal, now, a.count)
		if sch, exact := cal.Cron(); !exact {
			fmt.Fprintf(w, "the CronJob (%s) fires on more days than the window: its runs outside it skip (--skip-outside-window); the systemd timer fires exactly\n", sch)
		}
		return nil
	}
	s := scheduled{Plan: p, Cal: cal, Drill: a.drill, Image: a.image, Reports: a.reports}
	if s.Ref, err = planRef(p, arg); err != nil {
		return err
	}
	if s.Drill == "" {
		if s.Drill, err = os.Executable(); err != nil {
			return exitcode.Wrap(exitcode.Usage, fmt.Errorf("--drill: the path of this binary is unknown (%w): give it", err))
		}
	}
	if s.Drill, err = filepath.Abs(s.Drill); err != nil {
		return exitcode.Wrap(exitcode.Usage, fmt.Errorf("--drill %s: %w", a.drill, err))
	}
	files, err := s.render(a.format)
	if err != nil {
		return err
	}
	if a.out == "" {
		for _, f := range files {
			fmt.Fprintf(w, "# ---- %s ----\n%s\n", f.name, f.body)
		}
		return nil
	}
	return writeScheduleFiles(w, a.out, files)
}

// planRef is how the scheduled drill run names the plan: a shipped plan
// by its name (the binary holds it), a plan file by its absolute path.
func planRef(p *plan.Plan, arg string) (string, error) {
	if p.File == "" {
		return p.Name, nil
	}
	abs, err := filepath.Abs(p.File)
	if err != nil {
		return "", exitcode.Wrap(exitcode.Usage, fmt.Errorf("plan %s: %w", arg, err))
	}
	return abs, nil
}

type scheduleFile struct{ name, body string }

func writeScheduleFiles(w io.Writer, dir string, files []scheduleFile) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return exitcode.Wrap(exitcode.Usage, fmt.Errorf("--out %s: %w", dir, err))
	}
	for _, f := range files {
		path := filepath.Join(dir, f.name)
		if err := os.WriteFile(path, []byte(f.body), 0o644); err != nil {
			return exitcode.Wrap(exitcode.Usage, fmt.Errorf("--out %s: %w", dir, err))
		}
		fmt.Fprintf(w, "wrote %s\n", path)
	}
	return nil
}

// UnitName is the systemd unit name (without suffix) of the plan's schedule.
func (s scheduled) UnitName() string { return "aiuptime-drill-" + s.Plan.Name }

// render builds the files of format.
func (s scheduled) render(format string) ([]scheduleFile, error) {
	var files []scheduleFile
	if format == formatSystemd || format == formatAll {
		svc, err := execTemplate(serviceTmpl, s)
		if err != nil {
			return nil, err
		}
		timer, err := execTemplate(timerTmpl, s)
		if err != nil {
			return nil, err
		}
		files = append(files, scheduleFile{s.UnitName() + ".service", svc}, scheduleFile{s.UnitName() + ".timer", timer})
	}
	if format == formatCronJob || format == formatAll {
		cj, err := execTemplate(cronJobTmpl, s)
		if err != nil {
			return nil, err
		}
		files = append(files, scheduleFile{"cronjob.yaml", cj})
	}
	return files, nil
}

func execTemplate(t *template.Template, s scheduled) (string, error) {
	var b bytes.Buffer
	if err := t.Execute(&b, s); err != nil {
		return "", exitcode.Wrap(exitcode.Harness, fmt.Errorf("render %s: %w", t.Name(), err))
	}
	return b.String(), nil
}

// ExecStart is the service's command line: drill run into a directory
// named after the start time, through /bin/sh for the date. Escaped for
// systemd: '%' is a specifier, '$' a variable, '\' and '"' quote.
func (s scheduled) ExecStart() string {
	out := filepath.Join(s.Reports, s.Plan.Name)
	script := fmt.Sprintf(`exec %s run %s --progress never --out %s/"$(date -u +%%Y%%m%%dT%%H%%M%%SZ)"`,
		shQuote(s.Drill), shQuote(s.Ref), shQuote(out))
	esc := strings.NewReplacer(`\`, `\\`, `"`, `\"`, `%`, `%%`, `$`, `$$`).Replace(script)
	return `/bin/sh -c "` + esc + `"`
}

var shSafe = regexp.MustCompile(`^[A-Za-z0-9_./:=+-]+$`)

// shQuote quotes s for /bin/sh.
func shQuote(s string) string {
	if shSafe.MatchString(s) {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// TimeoutSec bounds a run by the window's length: at its close systemd
// stops drill (SIGTERM), which reverts what it injected.
func (s scheduled) TimeoutSec() int { return int(s.Cal.Length().Seconds()) }

// CronName is the CronJob's name: a DNS label of at most 52 characters.
func (s scheduled) CronName() string {
	n := strings.Trim(regexp.MustCompile(`[^a-z0-9-]+`).ReplaceAllString(strings.ToLower(s.UnitName()), "-"), "-")
	if len(n) > 52 {
		n = strings.TrimRight(n[:52], "-")
	}
	return n
}

// Cron is the CronJob's schedule and whether it is exact.
func (s scheduled) Cron() string { c, _ := s.Cal.Cron(); return c }

// CronArgs are the container's arguments, each a JSON string (valid YAML).
func (s scheduled) CronArgs() []string {
	args := []string{"run", s.cronPlanRef(), "--progress", "never", "--out", "/reports/$(POD_NAME)"}
	if _, exact := s.Cal.Cron(); !exact {
		args = append(args, "--skip-outside-window")
	}
	for i, a := range args {
		args[i] = strconv.Quote(a)
	}
	return args
}

// cronPlanRef names the plan inside the pod: a shipped plan by name, a
// plan file from the ConfigMap mounted at /plans.
func (s scheduled) cronPlanRef() string {
	if s.Plan.File == "" {
		return s.Plan.Name
	}
	return "/plans/" + filepath.Base(s.Plan.File)
}

// PlanConfigMap is the ConfigMap holding a plan file ("" for a shipped plan).
func (s scheduled) PlanConfigMap() string {
	if s.Plan.File == "" {
		return ""
	}
	return s.CronName() + "-plan"
}

// FromFiles are kubectl's --from-file arguments of the ConfigMap: the plan
// file, and its stack file (which it names relative to itself).
func (s scheduled) FromFiles() string {
	files := "--from-file=" + shQuote(s.Plan.File)
	if sf := s.Plan.StackFile(); sf != "" && !filepath.IsAbs(s.Plan.Stack) && !strings.Contains(s.Plan.Stack, "/") {
		files += " --from-file=" + shQuote(sf)
	}
	return files
}

// Exact reports whether the cron schedule fires only at window openings.
func (s scheduled) Exact() bool { _, e := s.Cal.Cron(); return e }

// Deadline is the CronJob's startingDeadlineSeconds.
func (s scheduled) Deadline() int { return int(scheduleDeadline.Seconds()) }

// Zone is the window's IANA time zone.
func (s scheduled) Zone() string { return s.Cal.Loc.String() }

// Window describes the window for comments.
func (s scheduled) Window() string { return s.Cal.String() }
