package monitor

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/aiuptime/aiuptime/monitor/rules"
)

// Sentinel errors callers branch on.
var (
	// ErrNotInstalled: a Prometheus or Alertmanager binary is missing.
	ErrNotInstalled = errors.New("monitoring binary not installed")
	// ErrRejected: promtool or amtool rejected a generated file.
	ErrRejected = errors.New("rejected by checker")
	// ErrTimeout: an awaited alert state or notification did not happen in time.
	ErrTimeout = errors.New("timed out")
)

// RuleError is promtool rejecting rules. Rules names each rejected rule as
// "group/name", found by checking the rules one by one (so the names do not
// depend on promtool's message format). It wraps ErrRejected.
type RuleError struct {
	Rules  []string
	Output string
}

func (e *RuleError) Error() string {
	if len(e.Rules) == 0 {
		return fmt.Sprintf("promtool rejected the rule file: %s", firstLines(e.Output, 3))
	}
	return fmt.Sprintf("promtool rejected rule %s: %s", strings.Join(e.Rules, ", "), firstLines(e.Output, 3))
}

// Unwrap makes errors.Is(err, ErrRejected) true.
func (e *RuleError) Unwrap() error { return ErrRejected }

// CheckRules runs `promtool check rules` on f. A rejection is a *RuleError
// naming the offending rules. Options used: WithPromtool.
func CheckRules(ctx context.Context, f rules.File, opts ...Option) error {
	o, err := buildOptions(opts)
	if err != nil {
		return err
	}
	promtool, err := lookBinary("promtool", o.promtool, "prometheus")
	if err != nil {
		return err
	}
	dir, err := os.MkdirTemp("", "aiuptime-rules-")
	if err != nil {
		return fmt.Errorf("temp dir for rule check: %w", err)
	}
	defer os.RemoveAll(dir)
	return checkRules(ctx, promtool, dir, f)
}

func writeRules(path string, f rules.File) error {
	b, err := f.YAML()
	if err != nil {
		return err
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		return fmt.Errorf("write rules: %w", err)
	}
	return nil
}

func checkRules(ctx context.Context, promtool, dir string, f rules.File) error {
	path := filepath.Join(dir, "check-rules.yml")
	if err := writeRules(path, f); err != nil {
		return err
	}
	out, err := runTool(ctx, promtool, "check", "rules", path)
	if err == nil {
		return nil
	}
	if !errors.Is(err, errToolRejected) {
		return err
	}
	rerr := &RuleError{Output: out}
	// Find the culprits: each rule alone in a group of its own.
	for _, g := range f.Groups {
		for i, r := range g.Rules {
			one := rules.File{Groups: []rules.Group{{Name: g.Name, Interval: g.Interval, Rules: []rules.Rule{r}}}}
			p := filepath.Join(dir, fmt.Sprintf("check-rule-%d.yml", i))
			if err := writeRules(p, one); err != nil {
				return err
			}
			o, err := runTool(ctx, promtool, "check", "rules", p)
			if errors.Is(err, errToolRejected) {
				rerr.Rules = append(rerr.Rules, g.Name+"/"+r.Name())
				rerr.Output = o
			} else if err != nil {
				return err
			}
		}
	}
	return rerr
}

func checkConfig(ctx context.Context, promtool, path string) error {
	out, err := runTool(ctx, promtool, "check", "config", path)
	if errors.Is(err, errToolRejected) {
		return fmt.Errorf("%w: promtool check config %s: %s", ErrRejected, filepath.Base(path), firstLines(out, 4))
	}
	return err
}

// ErrTestsFailed: `promtool test rules` ran and a unit test failed.
var ErrTestsFailed = errors.New("rule unit tests failed")

// TestRules runs `promtool test rules` on a unit-test file (its rule_files
// are relative to it). A failed test wraps ErrTestsFailed and carries
// promtool's report. Options used: WithPromtool.
func TestRules(ctx context.Context, testFile string, opts ...Option) error {
	out, err := promtoolRun(ctx, opts, "test", "rules", testFile)
	if errors.Is(err, errToolRejected) {
		return fmt.Errorf("%w: promtool test rules %s:\n%s", ErrTestsFailed, filepath.Base(testFile), strings.TrimSpace(out))
	}
	return err
}

// CheckRuleFile runs `promtool check rules` on a rule file on disk.
func CheckRuleFile(ctx context.Context, path string, opts ...Option) error {
	out, err := promtoolRun(ctx, opts, "check", "rules", path)
	if errors.Is(err, errToolRejected) {
		return &RuleError{Output: out}
	}
	return err
}

// promtoolRun runs promtool (WithPromtool, else from PATH) with args; a
// rejected input is errToolRejected with promtool's output.
func promtoolRun(ctx context.Context, opts []Option, args ...string) (string, error) {
	o, err := buildOptions(opts)
	if err != nil {
		return "", err
	}
	promtool, err := lookBinary("promtool", o.promtool, "prometheus")
	if err != nil {
		return "", err
	}
	return runTool(ctx, promtool, args...)
}
