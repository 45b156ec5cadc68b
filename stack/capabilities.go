package stack

import (
	"fmt"
	"strings"
)

// Latency mechanisms a stack can offer for network-delay faults.
const (
	MechanismNetem     = "netem"
	MechanismToxiproxy = "toxiproxy"
	MechanismNone      = "none"
)

// Capabilities is what the kernel and the stack allowed for this run, and
// the fallbacks chosen. Reports show it under `capabilities`.
type Capabilities struct {
	// Netem reports whether the kernel accepted a netem qdisc in a scratch
	// network namespace.
	Netem bool `json:"netem"`
	// NetemDetail says how Netem was decided (the probe's error, or why it
	// was not probed).
	NetemDetail string `json:"netem_detail,omitempty"`
	// ProxyMode is the requested proxy mode: auto, always or never.
	ProxyMode string `json:"proxy_mode,omitempty"`
	// Proxy reports whether a Toxiproxy sits between the gateway and each
	// model server (see Service.Proxy).
	Proxy bool `json:"proxy"`
	// LatencyMechanism is how latency faults should be applied:
	// MechanismNetem, MechanismToxiproxy or MechanismNone.
	LatencyMechanism string `json:"latency_mechanism"`
	// DiskFull reports whether the gateway data volume is size-limited, so
	// a disk-full fault can reach ENOSPC.
	DiskFull bool `json:"disk_full"`
	// DiskFullDetail explains DiskFull (the size, or why it is unsupported).
	DiskFullDetail string `json:"disk_full_detail,omitempty"`
}

// CapabilityReporter is implemented by stacks that know their capabilities
// (the containers provider). Find it by type assertion.
type CapabilityReporter interface {
	Capabilities() Capabilities
}

// Unsupported returns an error wrapping ErrUnsupported that says which
// operation a kind of stack cannot do, e.g.
// "gpu-kill on model-0: unsupported on an endpoints stack".
func Unsupported(kind, what string) error {
	article := "a"
	if kind != "" && strings.ContainsRune("aeiou", rune(kind[0])) {
		article = "an"
	}
	return &unsupportedError{msg: fmt.Sprintf("%s: unsupported on %s %s stack", what, article, kind)}
}

type unsupportedError struct{ msg string }

func (e *unsupportedError) Error() string { return e.msg }
func (e *unsupportedError) Unwrap() error { return ErrUnsupported }
