// Package performance_test is the performance gate run after every update:
// the k6 scripts of xk6-aiuptime against the embedded stack, with the SLO
// thresholds and a comparison against a stored baseline.
//
// Run it alone with
//
//	go tool ginkgo --label-filter=performance ./suites/performance
//
// Environment knobs:
//
//	AIUPTIME_PERF_TOLERANCE  allowed regression against the baseline as a
//	                         fraction (default 1.0: twice as slow fails)
//	AIUPTIME_UPDATE_BASELINE =1 rewrites testdata/baseline-load.json from
//	                         this run instead of comparing (commit the file)
package performance_test

import (
	"testing"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
)

func TestPerformance(t *testing.T) {
	RegisterFailHandler(Fail)
	RunSpecs(t, "Performance Suite")
}
