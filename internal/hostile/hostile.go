// Package hostile holds the hostile and careless inputs a drill must
// refuse before anything starts (a "billion laughs" plan, a deep flow
// sequence, files over 1 MiB, targets that are no service of the stack or
// name the host, zero and overflowing durations, missing files, a broken
// stack file, a bad flag) and the ones it must accept (a UTF-8 byte order
// mark, a dry run), and runs the built drill binary on each: exit code,
// wall and CPU time, peak memory (max RSS), and whatever the run left in
// its report and state directories. cmd/drill's test and the safety suite
// both use it; the table it prints is the evidence.
package hostile

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/aiuptime/aiuptime/internal/fixturebin"
)

// Case is one invocation of drill.
type Case struct {
	// Name says what is hostile about it.
	Name string
	// Args are drill's arguments; paths are relative to the case directory.
	Args []string
	// Exit is the exit code drill must give.
	Exit int
	// Want is text drill's output must contain (an error's file:line:col).
	Want string
}

// Files are the inputs the cases read, by name in the case directory.
func Files() map[string]string {
	const head = "name: hostile\nsteps:\n  - name: a\n    fault: container-pause\n"
	step := func(target, extra string) string { return head + "    target: " + target + "\n" + extra }
	return map[string]string{
		"laughs.yaml":        Laughs(),
		"nested.yaml":        "name: nested\nsteps: " + strings.Repeat("[", 100_000) + strings.Repeat("]", 100_000) + "\n",
		"big.yaml":           "name: big\nsteps:\n  - {name: a, wait: 1s}\n#" + strings.Repeat("x", 1<<20) + "\n",
		"model-9.yaml":       step("model-9", "    duration: 1s\n"),
		"eth0.yaml":          step("eth0", "    duration: 1s\n"),
		"host.yaml":          step("host", "    duration: 1s\n"),
		"pid.yaml":           step(`"1"`, "    duration: 1s\n"),
		"count-9.yaml":       step("{role: model, count: 9}", "    duration: 1s\n"),
		"count-1.yaml":       step("{role: model, count: 1}", "    duration: 1s\n"),
		"zero.yaml":          step("model-0", "    duration: 0s\n"),
		"overflow.yaml":      step("model-0", "    duration: 2562048h\n"),
		"no-k6.yaml":         "name: no-k6\nload: {k6: missing.js}\nsteps:\n  - {name: a, wait: 1s}\n",
		"bad-stack.yaml":     "name: bad-stack\nstack: stack-invalid.yaml\nsteps:\n  - {name: a, wait: 1s}\n",
		"stack-invalid.yaml": "kind: containers\nreplicas: 2\nreplcas: 3\n",
		"stack-laughs.yaml": "kind: containers\nservices:\n  model: {args: [&a [x, x, x, x, x, x, x, x, x, x], &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a], " +
			"&c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b], &d [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c], &e [*d, *d, *d, *d, *d, *d, *d, *d, *d, *d]]}\n",
		"stack-big.yaml":     "kind: containers\n#" + strings.Repeat("x", 1<<20) + "\n",
		"bom.yaml":           "\xef\xbb\xbfname: bom\nstack: stack-bom.yaml\nsteps:\n  - {name: a, wait: 1s}\n",
		"stack-bom.yaml":     "\xef\xbb\xbfkind: containers\nreplicas: 3\n",
		"urls.yaml":          "kind: endpoints\nendpoints:\n  - {name: gateway, role: gateway, url: \"http://127.0.0.1:1\"}\n  - {name: model-0, role: model, url: \"http://127.0.0.1:2\"}\n",
		"gpu-on-urls.yaml":   "name: gpu-on-urls\nstack: urls.yaml\nsteps:\n  - {name: a, fault: gpu-kill, target: model-0}\n",
		"ok.yaml":            "name: ok\nsteps:\n  - {name: a, wait: 1s}\n",
		"compose.yaml":       "kind: docker\ndocker: {project: aiuptime-hostile-none}\n",
		"eth0-attached.yaml": "name: eth0-attached\nstack: compose.yaml\nsteps:\n  - {name: a, fault: network-partition, target: eth0, duration: 1s}\n",
	}
}

// Laughs is a plan that is a "billion laughs" in about 400 bytes: nine
// anchors of nine aliases each stand for 9^9 strings (in params.signal of
// its one step, at line 7).
func Laughs() string {
	var b strings.Builder
	b.WriteString("name: laughs\nsteps:\n  - name: a\n    fault: gpu-kill\n    target: model-0\n    params:\n      signal: [&a [lol, lol, lol, lol, lol, lol, lol, lol, lol]")
	prev := "a"
	for _, c := range "bcdefghi" {
		b.WriteString(", &" + string(c) + " [" + strings.TrimSuffix(strings.Repeat("*"+prev+", ", 9), ", ") + "]")
		prev = string(c)
	}
	b.WriteString("]\n")
	return b.String()
}

// Cases are the invocations, with the exit code and output each must give.
func Cases() []Case {
	v := func(name string, exit int, want string, args ...string) Case {
		return Case{Name: name, Args: append([]string{"validate"}, args...), Exit: exit, Want: want}
	}
	r := func(name string, exit int, want string, args ...string) Case {
		return Case{Name: name, Args: append([]string{"run", "--out", "out"}, args...), Exit: exit, Want: want}
	}
	return []Case{
		v("billion laughs (plan, 423 bytes)", 2, "laughs.yaml:7:", "laughs.yaml"),
		v("billion laughs (stack file)", 2, "stack-laughs.yaml:3:", "--stack", "stack-laughs.yaml", "ok.yaml"),
		v("200 KB nested flow sequence", 2, "nested.yaml:2:", "nested.yaml"),
		v("plan over 1 MiB", 2, "big.yaml: the file is larger than 1048576 bytes", "big.yaml"),
		v("stack file over 1 MiB", 2, "stack-big.yaml: the file is larger than 1048576 bytes", "--stack", "stack-big.yaml", "ok.yaml"),
		v("plan is /dev/zero", 2, "/dev/zero: plan file is not a regular file", "/dev/zero"),
		v("target model-9", 2, `model-9.yaml:5:13: steps[0].target: "model-9" is not a service`, "model-9.yaml"),
		v("target eth0", 2, `eth0.yaml:5:13: steps[0].target: "eth0" looks like a network interface of the host`, "eth0.yaml"),
		v("target host", 2, `host.yaml:5:13: steps[0].target: "host" names the host`, "host.yaml"),
		v("target eth0 on an attached stack", 2, `eth0-attached.yaml:4:49: steps[0].target: "eth0" looks like a network interface`, "eth0-attached.yaml"),
		v("target a PID", 2, "pid.yaml:5:13: steps[0].target: 1 is a bare number", "pid.yaml"),
		v("count 9 of 2 replicas", 2, "count-9.yaml:5:34: steps[0].target.count: target 9 of role model: the stack has only 2", "count-9.yaml"),
		v("zero duration", 2, "zero.yaml:6:15: steps[0].duration: a duration of 0 is refused", "zero.yaml"),
		v("duration overflow", 2, "overflow.yaml:6:15: steps[0].duration: \"2562048h\": duration overflows", "overflow.yaml"),
		v("missing plan path", 2, "no/such/plan.yaml: no such plan file", "no/such/plan.yaml"),
		v("missing k6 script", 2, "no-k6.yaml:2:12: load.k6: k6 script missing.js", "no-k6.yaml"),
		v("invalid stack file", 2, "stack-invalid.yaml:3:1: replcas: unknown key", "bad-stack.yaml"),
		v("gpu-kill on plain URLs", 2, "gpu-on-urls.yaml:4:22: steps[0].fault: gpu-kill needs", "gpu-on-urls.yaml"),
		v("UTF-8 BOM (plan and stack file)", 0, "bom.yaml: ok: plan bom", "bom.yaml"),
		r("unknown --progress", 2, `--progress "sometimes": want auto, always or never`, "--progress", "sometimes", "ok.yaml"),
		r("run with target eth0", 2, `"eth0" looks like a network interface`, "eth0.yaml"),
		r("run with an invalid stack file", 2, "stack-invalid.yaml:3:1:", "bad-stack.yaml"),
		r("dry run", 0, "container-pause on model-", "--dry-run", "--seed", "7", "count-1.yaml"),
		r("dry run of a shipped plan by bare name", 0, "plan quarterly-dr: ", "--dry-run", "quarterly-dr"),
		r("missing plan path, not the shipped plan", 2, "plans/quarterly-dr.yaml: no such plan file", "--dry-run", "plans/quarterly-dr.yaml"),
	}
}

// Result is what one case did.
type Result struct {
	Case
	Exit   int
	Wall   time.Duration
	CPU    time.Duration // user + system
	MaxRSS int64         // bytes
	Output string        // stdout and stderr
	// Left lists what the run left in the case directory's out/ and
	// state/ (a refused or dry run must leave nothing).
	Left []string
}

// Failure says how the result differs from the case ("" when it does not).
func (r Result) Failure() string {
	var bad []string
	if r.Exit != r.Case.Exit {
		bad = append(bad, fmt.Sprintf("exit %d, want %d", r.Exit, r.Case.Exit))
	}
	if !strings.Contains(r.Output, r.Want) {
		bad = append(bad, fmt.Sprintf("output lacks %q", r.Want))
	}
	if len(r.Left) > 0 {
		bad = append(bad, fmt.Sprintf("left %v", r.Left))
	}
	if len(bad) == 0 {
		return ""
	}
	return strings.Join(bad, "; ") + "\noutput:\n" + r.Output
}

// Write writes Files into dir.
func Write(dir string) error {
	for name, body := range Files() {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			return err
		}
	}
	return nil
}

// Run runs bin with the case's arguments in dir (where Write put the
// files), with its state directory at dir/state, and measures it through
// the measure helper (built into dir/.measure on first use; see
// internal/hostile/measure for why the drill's own parent must be small).
func Run(ctx context.Context, bin, dir string, c Case) (Result, error) {
	res := Result{Case: c}
	helper, err := measureHelper(ctx, dir)
	if err != nil {
		return res, err
	}
	state := filepath.Join(dir, "state")
	for _, d := range []string{state, filepath.Join(dir, "out")} {
		if err := os.RemoveAll(d); err != nil {
			return res, err
		}
	}
	if err := os.Mkdir(state, 0o700); err != nil {
		return res, err
	}
	resultFile := filepath.Join(filepath.Dir(helper), "result.json")
	_ = os.Remove(resultFile)
	var out bytes.Buffer
	cmd := exec.CommandContext(ctx, helper, append([]string{resultFile, bin}, c.Args...)...)
	cmd.Dir, cmd.Stdout, cmd.Stderr = dir, &out, &out
	cmd.Env = append(os.Environ(), "AIUPTIME_STATE_DIR="+state)
	if err := cmd.Run(); err != nil {
		return res, fmt.Errorf("%s: %w\n%s", c.Name, err, out.String())
	}
	b, err := os.ReadFile(resultFile)
	if err != nil {
		return res, fmt.Errorf("%s: %w", c.Name, err)
	}
	var m measured
	if err := json.Unmarshal(b, &m); err != nil {
		return res, fmt.Errorf("%s: measure result: %w", c.Name, err)
	}
	res.Exit, res.Wall, res.CPU, res.MaxRSS = m.Exit, time.Duration(m.WallNS), time.Duration(m.CPUNS), m.MaxRSSKiB*1024
	res.Output = out.String()
	res.Left, err = left(dir)
	return res, err
}

// measured is what the measure helper writes (its Result).
type measured struct {
	Exit      int   `json:"exit"`
	WallNS    int64 `json:"wall_ns"`
	CPUNS     int64 `json:"cpu_ns"`
	MaxRSSKiB int64 `json:"max_rss_kib"`
}

// measureHelper returns the measure helper in dir/.measure, building it
// from the source checkout first if it is not there.
func measureHelper(ctx context.Context, dir string) (string, error) {
	helper := filepath.Join(dir, ".measure", "measure")
	if _, err := os.Stat(helper); err == nil {
		return helper, nil
	}
	root, err := fixturebin.ModuleRoot()
	if err != nil {
		return "", err
	}
	build := exec.CommandContext(ctx, "go", "build", "-o", helper, "./internal/hostile/measure")
	build.Dir, build.Env = root, append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		return "", fmt.Errorf("build the measure helper: %w\n%s", err, out)
	}
	return helper, nil
}

// left lists the files and directories under dir/out and dir/state.
func left(dir string) ([]string, error) {
	var out []string
	for _, d := range []string{"out", "state"} {
		err := filepath.WalkDir(filepath.Join(dir, d), func(p string, e fs.DirEntry, err error) error {
			if errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			if err != nil {
				return err
			}
			if rel, _ := filepath.Rel(dir, p); rel != "state" {
				out = append(out, rel)
			}
			return nil
		})
		if err != nil {
			return out, err
		}
	}
	return out, nil
}

// Table prints the results, one row each.
func Table(w io.Writer, rs []Result) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "case\tcommand\texit\twall\tcpu\tmax RSS\tleft\tok")
	for _, r := range rs {
		ok := "yes"
		if r.Failure() != "" {
			ok = "NO"
		}
		leftN := "nothing"
		if len(r.Left) > 0 {
			leftN = strings.Join(r.Left, ",")
		}
		fmt.Fprintf(tw, "%s\tdrill %s\t%d\t%s\t%s\t%.1f MB\t%s\t%s\n", r.Name, short(strings.Join(r.Args, " ")), r.Exit,
			r.Wall.Round(time.Millisecond), r.CPU.Round(time.Millisecond), float64(r.MaxRSS)/(1<<20), leftN, ok)
	}
	return tw.Flush()
}

func short(s string) string {
	if len(s) > 48 {
		return s[:45] + "..."
	}
	return s
}
