package rules

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/goccy/go-yaml"
)

// File is a Prometheus rule file.
type File struct {
	Groups []Group `yaml:"groups"`
}

// Group is a rule group.
type Group struct {
	Name     string `yaml:"name"`
	Interval string `yaml:"interval,omitempty"`
	Rules    []Rule `yaml:"rules"`
}

// Rule is a recording rule (Record set) or an alerting rule (Alert set).
type Rule struct {
	Record      string            `yaml:"record,omitempty"`
	Alert       string            `yaml:"alert,omitempty"`
	Expr        string            `yaml:"expr"`
	For         string            `yaml:"for,omitempty"`
	Labels      map[string]string `yaml:"labels,omitempty"`
	Annotations map[string]string `yaml:"annotations,omitempty"`
}

// Name is the rule's alert or record name.
func (r Rule) Name() string {
	if r.Alert != "" {
		return r.Alert
	}
	return r.Record
}

// YAML renders the file.
func (f File) YAML() ([]byte, error) {
	b, err := yaml.MarshalWithOptions(f, yaml.UseLiteralStyleIfMultiline(true))
	if err != nil {
		return nil, fmt.Errorf("marshal rule file: %w", err)
	}
	return b, nil
}

// Alerts lists the alert names in the file, in order.
func (f File) Alerts() []string {
	var out []string
	for _, g := range f.Groups {
		for _, r := range g.Rules {
			if r.Alert != "" {
				out = append(out, r.Alert)
			}
		}
	}
	return out
}

// Names of the files WriteFiles writes.
const (
	FileRules = "aiuptime-rules.yml"
	FileTests = "aiuptime-rules_test.yml"
)

// WriteFiles writes res's rule file and its promtool unit tests (Tests)
// into dir, creating it. It returns both paths and the test notes.
func WriteFiles(dir string, spec Spec, res Result) (rulesPath, testsPath string, notes []string, err error) {
	tf, notes, err := Tests(spec, res.File, FileRules)
	if err != nil {
		return "", "", nil, err
	}
	rb, err := res.File.YAML()
	if err != nil {
		return "", "", nil, err
	}
	tb, err := tf.YAML()
	if err != nil {
		return "", "", nil, err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", "", nil, fmt.Errorf("rules dir: %w", err)
	}
	rulesPath, testsPath = filepath.Join(dir, FileRules), filepath.Join(dir, FileTests)
	if err := os.WriteFile(rulesPath, rb, 0o644); err != nil {
		return "", "", nil, fmt.Errorf("write rules: %w", err)
	}
	if err := os.WriteFile(testsPath, tb, 0o644); err != nil {
		return "", "", nil, fmt.Errorf("write rule tests: %w", err)
	}
	return rulesPath, testsPath, notes, nil
}
