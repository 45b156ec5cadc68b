// Package monitoring_test proves the monitoring path against real processes:
// fixture model servers and gateway as host processes on 127.0.0.1, a real
// Prometheus scraping them with generated SLO rules, and an Alertmanager
// delivering to a webhook inside the harness.
package monitoring_test

import (
	"testing"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
)

func TestMonitoring(t *testing.T) {
	RegisterFailHandler(Fail)
	RunSpecs(t, "Monitoring Suite")
}
