package chaosmesh

import (
	"testing"

	"k8s.io/apimachinery/pkg/util/validation"
)

func TestLabelValue(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"", "none"},
		{"20261202T045918-0a1b2c3d4e5f", "20261202T045918-0a1b2c3d4e5f"},
		{"run/with spaces", "run_with_spaces"},
		{"-leading-and-trailing-", "leading-and-trailing"},
	} {
		got := labelValue(tc.in)
		if got != tc.want || len(validation.IsValidLabelValue(got)) > 0 {
			t.Errorf("labelValue(%q) = %q, want %q (valid)", tc.in, got, tc.want)
		}
	}
}

func TestPercentText(t *testing.T) {
	for _, tc := range []struct {
		in   float64
		want string
	}{{0, "0"}, {0.125, "12.5"}, {0.25, "25"}, {1, "100"}, {0.00015, "0.015"}} {
		if got := percentText(tc.in); got != tc.want {
			t.Errorf("percentText(%v) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestObjectNameIsDNSSubdomain(t *testing.T) {
	n := ObjectName("container-kill", "20261202T045918-0a1b2c3d4e5f")
	if errs := validation.IsDNS1123Subdomain(n); len(errs) > 0 || n != "aiuptime-container-kill-20261202t045918-0a1b2c3d4e5f" {
		t.Errorf("ObjectName = %q: %v", n, errs)
	}
}
