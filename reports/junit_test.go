package reports

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// commonJUnitXSD is the JUnit schema CI servers agree on (the attributes
// junit-10.xsd and junit-4.xsd both accept), written for these tests.
var commonJUnitXSD = filepath.Join("testdata", "junit-common.xsd")

// xmllint validates doc against the common JUnit schema and returns its
// complaint, or "" when it is valid. It skips the test without xmllint.
func xmllint(t *testing.T, doc []byte) string {
	t.Helper()
	if _, err := exec.LookPath("xmllint"); err != nil {
		t.Skip("xmllint not installed (Debian libxml2-utils, in the Makefile's APT_PACKAGES)")
	}
	path := filepath.Join(t.TempDir(), FileJUnit)
	if err := os.WriteFile(path, doc, 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("xmllint", "--noout", "--schema", commonJUnitXSD, path).CombinedOutput()
	if err != nil {
		return strings.TrimSpace(string(out))
	}
	return ""
}

// TestJUnitValidAgainstCommonSchema renders reports of every shape (a
// real quarterly-dr run, the sample with failures, errors and a skipped
// step, an aborted run without steps, one without streams, hostile names)
// and validates each junit.xml with xmllint against the common schema.
func TestJUnitValidAgainstCommonSchema(t *testing.T) {
	real, err := Load(filepath.Join("testdata", "quarterly-dr.json"))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		r    *Report
	}{
		{"real quarterly-dr run", real},
		{"sample with failures, errors and a skipped step", sampleReport(sampleSecret)},
		{"aborted without steps", &Report{Plan: "empty", Verdict: VerdictAborted, VerdictReason: "stop condition"}},
		{"no streams", streamless()},
		{"hostile names", hostileReport()},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b, err := JUnit(tc.r)
			if err != nil {
				t.Fatal(err)
			}
			if msg := xmllint(t, b); msg != "" {
				t.Errorf("junit.xml is not valid against %s:\n%s\n%s", commonJUnitXSD, msg, b)
			}
		})
	}
}

// TestCommonSchemaRefusesWhatCIsDoNotRead proves the validation above can
// fail: documents with an attribute or element the common schema does
// not allow (a skipped count on <testsuites>, the old output) are refused.
func TestCommonSchemaRefusesWhatCIsDoNotRead(t *testing.T) {
	good, err := JUnit(sampleReport(sampleSecret))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, old, new string
	}{
		{"skipped on testsuites", `<testsuites name="gpu-failover" `, `<testsuites skipped="1" name="gpu-failover" `},
		{"testsuite without errors", ` errors="1" skipped="1" time="60.000" timestamp`, ` skipped="1" time="60.000" timestamp`},
		{"unknown testcase attribute", `<testcase classname=`, `<testcase file="x.go" classname=`},
		{"time with a unit", `time="60.000"`, `time="60s"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if !bytes.Contains(good, []byte(tc.old)) {
				t.Fatalf("the sample junit.xml lacks %q: the case tests nothing", tc.old)
			}
			bad := bytes.Replace(good, []byte(tc.old), []byte(tc.new), 1)
			if msg := xmllint(t, bad); msg == "" {
				t.Errorf("the schema accepted %s", tc.name)
			}
		})
	}
}
