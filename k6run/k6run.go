// Package k6run runs the k6 binary built with the xk6-aiuptime extension and
// reads its end-of-test summary into Go types, for the performance suite and
// for drills that use a k6 script as their load.
//
// The harness never imports the extension: it runs bin/k6 as a process and
// reads the JSON it exports (--summary-export), so k6 and the harness keep
// separate dependency trees.
package k6run

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/aiuptime/aiuptime/internal/fixturebin"
	"github.com/aiuptime/aiuptime/redact"
)

// Metric names the extension and k6 produce, as keys of Summary.Metrics.
const (
	MetricTTFT            = "aiuptime_ttft"
	MetricITL             = "aiuptime_itl"
	MetricTPOT            = "aiuptime_tpot"
	MetricE2E             = "aiuptime_e2e"
	MetricOutputTokens    = "aiuptime_output_tokens"
	MetricOutcome         = "aiuptime_stream_outcome"
	MetricUp              = "aiuptime_up"
	MetricHTTPReqDuration = "http_req_duration"
	MetricHTTPReqFailed   = "http_req_failed"
	MetricIterations      = "iterations"
)

// k6 exit codes the runner distinguishes (go.k6.io/k6/errext/exitcodes).
const (
	ExitThresholdsFailed = 99
	ExitScriptException  = 107
)

// DefaultGracePeriod is how long k6 may take to stop and write its summary
// after ctx is cancelled (it receives SIGINT first), before it is killed.
const DefaultGracePeriod = 30 * time.Second

// TrendStats are the trend statistics requested from k6.
var TrendStats = []string{"avg", "min", "med", "max", "p(90)", "p(95)", "p(99)"}

// Option configures Run.
type Option func(*options) error

type options struct {
	env         map[string]string
	summaryPath string
	args        []string
	dir         string
	out         io.Writer
	logger      *slog.Logger
	grace       time.Duration
	red         *redact.Redactor
	points      string
}

// WithEnv adds environment variables for the script (__ENV). They are passed
// in the process environment, not on the command line, so secrets such as
// API_KEY do not show in process listings, and they are never logged: the
// values of secret-named variables (redact.IsSecretName) and the secrets
// any value holds (a URL's password) are masked in everything Run passes
// on from k6.
func WithEnv(env map[string]string) Option {
	return func(o *options) error {
		for k, v := range env {
			if k == "" || strings.ContainsRune(k, '=') {
				return fmt.Errorf("bad environment variable name %q", k)
			}
			o.env[k] = v
		}
		return nil
	}
}

// WithSummaryPath keeps the summary JSON at path (default: a temporary file
// removed after reading).
func WithSummaryPath(path string) Option {
	return func(o *options) error { o.summaryPath = path; return nil }
}

// WithArgs adds arguments to `k6 run` before the script (e.g. "--vus", "2",
// "--out", "json=results.json").
func WithArgs(args ...string) Option {
	return func(o *options) error { o.args = append(o.args, args...); return nil }
}

// WithDir sets k6's working directory (default: the script's directory).
func WithDir(dir string) Option {
	return func(o *options) error { o.dir = dir; return nil }
}

// WithOutput copies k6's stdout and stderr to w (default: discarded; the
// tail of stderr is kept for errors either way).
func WithOutput(w io.Writer) Option {
	return func(o *options) error { o.out = w; return nil }
}

// WithRedactor masks k6's output, errors, summary and points with r (the
// run's redactor) besides the secrets of WithEnv, which Run adds to r.
// Default: a redactor of its own that knows WithEnv's secrets.
func WithRedactor(r *redact.Redactor) Option {
	return func(o *options) error {
		if r == nil {
			return errors.New("nil redactor")
		}
		o.red = r
		return nil
	}
}

// WithLogger sets the logger (default: discard).
func WithLogger(l *slog.Logger) Option {
	return func(o *options) error {
		if l == nil {
			return errors.New("nil logger")
		}
		o.logger = l
		return nil
	}
}

// WithGracePeriod sets how long k6 may take to stop after ctx ends.
func WithGracePeriod(d time.Duration) Option {
	return func(o *options) error {
		if d <= 0 {
			return fmt.Errorf("grace period %v: must be positive", d)
		}
		o.grace = d
		return nil
	}
}

// ExitError is returned when k6 fails for another reason than thresholds
// (bad script, bad options, killed). Stderr holds the tail of k6's stderr,
// masked (see WithEnv).
type ExitError struct {
	Code   int
	Stderr string
}

// Error implements error.
func (e *ExitError) Error() string {
	return fmt.Sprintf("k6 exited with code %d: %s", e.Code, lastLines(e.Stderr, 5))
}

// Run runs `k6 run` on script with k6Path and returns its summary. A run whose
// thresholds failed is not an error: Summary.ThresholdsOK reports it (and
// ExitCode is 99). Other failures return an *ExitError, with the summary when
// k6 still wrote one. When ctx ends, k6 gets SIGINT and the grace period to
// write its summary; Run then returns that summary (nil if k6 wrote none)
// and an error wrapping ctx's cause (errors.Is(err, context.Canceled)).
func Run(ctx context.Context, k6Path, script string, opts ...Option) (*Summary, error) {
	o, err := buildOptions(opts)
	if err != nil {
		return nil, err
	}
	script, err = filepath.Abs(script)
	if err != nil {
		return nil, fmt.Errorf("resolve script: %w", err)
	}
	if _, err := os.Stat(script); err != nil {
		return nil, fmt.Errorf("k6 script: %w", err)
	}
	if o.dir == "" {
		o.dir = filepath.Dir(script)
	}
	summaryPath, cleanup, err := o.summaryFile()
	if err != nil {
		return nil, err
	}
	defer cleanup()

	cmd := o.command(ctx, k6Path, script, summaryPath)
	tail := &tailBuffer{max: 16 << 10}
	out := &lockedWriter{w: o.out} // k6's stdout and stderr are copied concurrently
	stdout, stderr := o.red.LineWriter(out), o.red.LineWriter(out)
	cmd.Stdout = stdout
	cmd.Stderr = io.MultiWriter(stderr, tail)
	o.logger.Info("k6 run", "script", script, "summary", summaryPath)
	started := time.Now()
	code, err := exitCode(cmd, cmd.Run())
	_, _ = stdout.Flush(), stderr.Flush()
	if err != nil {
		return nil, fmt.Errorf("run %s: %w", k6Path, err)
	}
	o.logger.Info("k6 done", "script", script, "exit_code", code, "elapsed", time.Since(started))

	sum, readErr := ReadSummary(summaryPath)
	if sum != nil {
		sum.ExitCode = code
		sum.redact(o.red)
		if o.summaryPath != "" {
			sum.Path = summaryPath
		}
	}
	o.scrubKept(summaryPath)
	if ctx.Err() != nil {
		// Stopped by the caller: whatever k6 managed to summarise is returned.
		return sum, fmt.Errorf("k6 stopped: %w", context.Cause(ctx))
	}
	if code != 0 && code != ExitThresholdsFailed {
		return sum, &ExitError{Code: code, Stderr: o.red.String(tail.String())}
	}
	if readErr != nil {
		return nil, readErr
	}
	return sum, nil
}

// buildOptions applies opts over the defaults and teaches the redactor the
// environment's secrets.
func buildOptions(opts []Option) (*options, error) {
	o := &options{
		env:    map[string]string{},
		out:    io.Discard,
		logger: slog.New(slog.DiscardHandler),
		grace:  DefaultGracePeriod,
	}
	for _, opt := range opts {
		if err := opt(o); err != nil {
			return nil, fmt.Errorf("k6run option: %w", err)
		}
	}
	if o.red == nil {
		o.red = redact.New()
	}
	for k, v := range o.env {
		o.red.AddNamed(k, v)
	}
	o.logger = slog.New(redact.NewHandler(o.logger.Handler(), o.red))
	return o, nil
}

// scrubKept masks the files k6 wrote that outlive Run: the summary when
// WithSummaryPath kept it, and the points of WithPointsPath. A file that
// cannot be masked is removed rather than left holding a secret.
func (o *options) scrubKept(summaryPath string) {
	var kept []string
	if o.summaryPath != "" {
		kept = append(kept, summaryPath)
	}
	if o.points != "" {
		kept = append(kept, o.points)
	}
	for _, p := range kept {
		if err := scrubFile(p, o.red); err != nil && !errors.Is(err, fs.ErrNotExist) {
			o.logger.Warn("k6 output could not be masked; removed", "file", p, "err", err)
			_ = os.Remove(p)
		}
	}
}

// summaryFile returns the absolute path k6 exports its summary to, with no
// stale summary there: WithSummaryPath's, else a temporary file that
// cleanup removes.
func (o *options) summaryFile() (path string, cleanup func(), err error) {
	cleanup = func() {}
	if o.summaryPath == "" {
		f, err := os.CreateTemp("", "k6-summary-*.json")
		if err != nil {
			return "", nil, fmt.Errorf("create summary file: %w", err)
		}
		path = f.Name()
		_ = f.Close()
		cleanup = func() { _ = os.Remove(path) }
	} else if path, err = filepath.Abs(o.summaryPath); err != nil {
		return "", nil, fmt.Errorf("resolve summary path: %w", err)
	}
	_ = os.Remove(path) // a stale summary must not pass for this run's
	return path, cleanup, nil
}

// command is `k6 run` of script exporting its summary to summaryPath, with
// the script's environment, SIGINT on ctx's end and the grace period after.
func (o *options) command(ctx context.Context, k6Path, script, summaryPath string) *exec.Cmd {
	args := []string{"run", "--no-color", "--quiet",
		"--summary-export", summaryPath,
		"--summary-trend-stats", strings.Join(TrendStats, ",")}
	args = append(args, o.args...)
	args = append(args, script)
	cmd := exec.CommandContext(ctx, k6Path, args...)
	cmd.Dir = o.dir
	cmd.Env = append(os.Environ(), "K6_NO_USAGE_REPORT=true")
	for k, v := range o.env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGINT) }
	cmd.WaitDelay = o.grace
	return cmd
}

// exitCode is the exit code of a finished k6 (0 when runErr is nil); an
// error that is not an exit status (k6 did not start) is returned.
func exitCode(cmd *exec.Cmd, runErr error) (int, error) {
	if runErr == nil {
		return 0, nil
	}
	var ee *exec.ExitError
	if errors.As(runErr, &ee) {
		return ee.ExitCode(), nil
	}
	// k6 exited, but the context ended meanwhile: exec reports the
	// context's error instead of the exit status (a run that finished as
	// the drill stopped it). Its exit status and summary still count.
	if ps := cmd.ProcessState; ps != nil && ps.Exited() && (errors.Is(runErr, context.Canceled) || errors.Is(runErr, context.DeadlineExceeded)) {
		return ps.ExitCode(), nil
	}
	return 0, runErr
}

// lastLines returns the last n non-empty lines of s, joined by " | ".
func lastLines(s string, n int) string {
	var lines []string
	for l := range strings.SplitSeq(strings.TrimSpace(s), "\n") {
		if l = strings.TrimSpace(l); l != "" {
			lines = append(lines, l)
		}
	}
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, " | ")
}

// tailBuffer keeps the last max bytes written to it.
type tailBuffer struct {
	max int
	buf []byte
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.buf = append(t.buf, p...)
	if over := len(t.buf) - t.max; over > 0 {
		t.buf = slices.Clone(t.buf[over:])
	}
	return len(p), nil
}

func (t *tailBuffer) String() string { return string(t.buf) }

// Ensure returns the path of the k6 binary built with the extension,
// building it once when it is missing or older than its sources
// (internal/fixturebin: in $AIUPTIME_BIN, else bin/ of the source
// checkout). fixturebin finds the checkout itself ($AIUPTIME_SRC, else the
// nearest one above the working directory); repoRoot is kept for callers
// that already know it and is not consulted.
func Ensure(ctx context.Context, repoRoot string) (string, error) {
	return fixturebin.Path(ctx, fixturebin.K6)
}

// marshalIndent is json.MarshalIndent with the house indentation, without
// HTML escaping (thresholds contain < and >).
func marshalIndent(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimRight(buf.Bytes(), "\n"), nil
}
