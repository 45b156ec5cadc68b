package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/aiuptime/aiuptime/exitcode"
	"github.com/aiuptime/aiuptime/internal/yamldoc"
)

// cli runs drill with args the way main does (execute, then reportTo) and
// returns its stdout, what it printed on stderr at exit, and the exit code.
func cli(t *testing.T, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	root := newRoot()
	var out, errOut bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&errOut)
	root.SetArgs(args)
	err := execute(context.Background(), root)
	code = reportTo(&errOut, err)
	return out.String(), errOut.String(), code
}

// position is a line an editor or CI annotates: file:line:col: message.
var position = regexp.MustCompile(`^[^\s:]+:[0-9]+:[0-9]+: \S`)

// TestErrorLines runs drill on invalid plans and wrong command lines and
// checks each line it prints at exit: problems with a position start with
// it, others with "drill: ", and only usage errors end with the --help
// hint of the command that was called.
func TestErrorLines(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.yaml")
	writeFile(t, bad, "name: bad\nsteps:\n  - nme: a\n    wait: 1s\n")
	bad2 := filepath.Join(dir, "bad2.yaml")
	writeFile(t, bad2, "name: bad2\nsteps:\n  - name: a\n    wiat: 1s\n")
	missing := filepath.Join(dir, "missing", "plan.yaml")
	for _, tc := range []struct {
		name string
		args []string
		// want is the lines printed, "POS" standing for a line that starts
		// with a position in bad.yaml or bad2.yaml.
		want []string
	}{
		{"positions as they are", []string{"validate", bad, bad2}, []string{"POS", "POS"}},
		{"positions and a problem without one", []string{"validate", bad, missing, bad2}, []string{"POS",
			"drill: " + missing + ": no such plan file (a shipped plan is named without a directory: see drill list)", "POS"}},
		{"unknown flag", []string{"run", "--bogus", bad}, []string{"drill: unknown flag: --bogus", "Run 'drill run --help' for usage."}},
		{"bad flag value", []string{"run", "--seed", "x", bad}, []string{
			`drill: invalid argument "x" for "--seed" flag: strconv.ParseUint: parsing "x": invalid syntax`,
			"Run 'drill run --help' for usage."}},
		{"flag value the command refuses", []string{"run", "--progress", "sometimes", bad}, []string{
			`drill: --progress "sometimes": want auto, always or never`, "Run 'drill run --help' for usage."}},
		{"flags the command finds exclusive", []string{"report", "--compare", "--trend", dir}, []string{
			"drill: --compare and --trend exclude each other", "Run 'drill report --help' for usage."}},
		{"too few arguments", []string{"validate"}, []string{"drill: requires at least 1 arg(s), only received 0", "Run 'drill validate --help' for usage."}},
		{"too many arguments", []string{"run", bad, bad}, []string{"drill: accepts 1 arg(s), received 2", "Run 'drill run --help' for usage."}},
		{"unknown command", []string{"stak"}, []string{`drill: unknown command "stak" for "drill"; did you mean stack?`, "Run 'drill --help' for usage."}},
		{"unknown subcommand", []string{"stack", "bogus"}, []string{`drill: unknown command "bogus" for "drill stack"`, "Run 'drill stack --help' for usage."}},
		{"unknown help topic", []string{"help", "bogus"}, []string{`drill: unknown help topic "bogus" for "drill"`, "Run 'drill --help' for usage."}},
		{"unknown help subtopic", []string{"help", "stack", "bogus"}, []string{`drill: unknown help topic "bogus" for "drill stack"`, "Run 'drill stack --help' for usage."}},
		{"required flags", []string{"fault", "inject"}, []string{`drill: required flag(s) "kind", "target" not set`, "Run 'drill fault inject --help' for usage."}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, stderr, code := cli(t, tc.args...)
			if code != exitcode.Usage {
				t.Errorf("exit %d, want %d", code, exitcode.Usage)
			}
			got := strings.Split(strings.TrimSuffix(stderr, "\n"), "\n")
			for i, l := range got {
				if (strings.HasPrefix(l, bad+":") || strings.HasPrefix(l, bad2+":")) && position.MatchString(l) {
					got[i] = "POS"
				}
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("stderr (-want +got):\n%s\nstderr:\n%s", diff, stderr)
			}
		})
	}
}

// TestFormatError checks which problems keep their position first and
// which get the drill: prefix, for errors made in code.
func TestFormatError(t *testing.T) {
	posErr := &yamldoc.Error{File: "plan.yaml", Line: 3, Col: 5, Field: "steps[0].name", Msg: "required"}
	noLine := &yamldoc.Error{File: "plan.yaml", Msg: "no such plan file"}
	for _, tc := range []struct {
		name string
		err  error
		want string
	}{
		{"a position", posErr, "plan.yaml:3:5: steps[0].name: required"},
		{"a position under an exit code", exitcode.Wrap(exitcode.Usage, posErr), "plan.yaml:3:5: steps[0].name: required"},
		{"a file without a line", noLine, "drill: plan.yaml: no such plan file"},
		{"a position after context", fmt.Errorf("load: %w", posErr), "drill: load: plan.yaml:3:5: steps[0].name: required"},
		{"joined", errors.Join(posErr, errors.New("stack down: held")),
			"plan.yaml:3:5: steps[0].name: required\ndrill: stack down: held"},
		{"yamldoc.Errors", exitcode.Wrap(exitcode.Usage, yamldoc.Errors{posErr, noLine}),
			"plan.yaml:3:5: steps[0].name: required\ndrill: plan.yaml: no such plan file"},
		{"another tool's position", errors.New("script.js:12:3: SyntaxError: unexpected token"), "script.js:12:3: SyntaxError: unexpected token"},
		{"a position without a column", errors.New("rules.yml:7: bad expression"), "rules.yml:7: bad expression"},
		{"an address is no position", errors.New("127.0.0.1:8080: connection refused"), "drill: 127.0.0.1:8080: connection refused"},
		{"continuation lines as they are", errors.New("two problems:\nplan.yaml:1:1: a\n  detail"), "drill: two problems:\nplan.yaml:1:1: a\n  detail"},
		{"a usage error", &usageError{path: "drill run", err: errors.New("unknown flag: --x")},
			"drill: unknown flag: --x\nRun 'drill run --help' for usage."},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if diff := cmp.Diff(tc.want, formatError(tc.err)); diff != "" {
				t.Errorf("formatError (-want +got):\n%s", diff)
			}
		})
	}
}

// TestPositionedErrorsStayMasked prints a positioned error and a usage
// error holding a secret-named environment variable's value: both lose
// the secret.
func TestPositionedErrorsStayMasked(t *testing.T) {
	const secret = "s3cr3t-canary-7f9d2a"
	t.Setenv("AIUPTIME_TEST_API_KEY", secret)
	for _, err := range []error{
		&yamldoc.Error{File: "plan.yaml", Line: 2, Col: 1, Msg: "bad key " + secret},
		&usageError{path: "drill run", err: errors.New("invalid argument " + secret)},
	} {
		var out bytes.Buffer
		reportTo(&out, err)
		if strings.Contains(out.String(), secret) || out.Len() == 0 {
			t.Errorf("printed %q", out.String())
		}
	}
}

// TestHelpTopics: drill help COMMAND prints that command's help and exits
// 0, as drill COMMAND --help does. (Unlike --help, help runs as a command,
// so its output goes through the redactor: stack up's help shows its JSON
// with "api_key": [REDACTED], and is left out here.)
func TestHelpTopics(t *testing.T) {
	for _, args := range [][]string{{"run"}, {"stack", "down"}, {"monitor", "rules"}} {
		out, stderr, code := cli(t, append([]string{"help"}, args...)...)
		want, _, _ := cli(t, append(args, "--help")...)
		if code != exitcode.Pass || out != want || out == "" {
			t.Errorf("drill help %v: exit %d, stderr %q; output differs from --help's: %v", args, code, stderr, out != want)
		}
	}
}
