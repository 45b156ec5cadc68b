package param

import (
	"errors"
	"fmt"
	"regexp"
	"strings"
)

// ServiceNamePattern is what the name of a service of the stack under
// test looks like (Docker and DNS friendly).
const ServiceNamePattern = `^[a-zA-Z0-9][a-zA-Z0-9_.-]*$`

var serviceName = regexp.MustCompile(ServiceNamePattern)

// ErrHostLevel marks a name of the host itself (a network interface, the
// host, a process id), which is never a target: faults act only on
// services of the stack under test.
var ErrHostLevel = errors.New("a host-level name is never a target: name a service of the stack")

// hostNames are names that mean the machine, never a service.
var hostNames = map[string]bool{"host": true, "localhost": true, "lo": true, "self": true, "init": true, "kernel": true}

// hostInterfaces are the names Linux, udev and container runtimes give
// network interfaces: eth0, enp0s3, ens33, eno1, wlan0, wlp2s0, docker0,
// br-0123456789ab, veth1a2b3c, virbr0, tun0, cali0123abcd, ...
var hostInterfaces = regexp.MustCompile(`^(` +
	`(eth|wlan|wwan|ib|em|docker|virbr|vnet|vmnet|tun|tap|bond|team|vxlan|wg|cni|flannel\.?|dummy|can|usb)[0-9]+` +
	`|en[opsx][0-9a-f]+([psfdn][0-9a-f]+)*|wl[opsx][0-9a-f]+([psfdn][0-9a-f]+)*|ww[opsx][0-9a-f]+` +
	`|br-[0-9a-f]{12}|veth[0-9a-f]{4,}|cali[0-9a-f]{6,}|p[0-9]+p[0-9]+` +
	`)$`)

// CheckServiceName refuses what cannot name a service of the stack under
// test: anything that is not a service name, and host-level names (a
// network interface such as eth0 or lo, "host", a bare number that could
// be a process id), which wrap ErrHostLevel.
func CheckServiceName(name string) error {
	if !serviceName.MatchString(name) {
		return fmt.Errorf("%q is not a service name", name)
	}
	lower := strings.ToLower(name)
	switch {
	case strings.Trim(name, "0123456789") == "":
		return fmt.Errorf("%s is a bare number (a process id?): %w", name, ErrHostLevel)
	case hostNames[lower]:
		return fmt.Errorf("%q names the host: %w", name, ErrHostLevel)
	case hostInterfaces.MatchString(lower):
		return fmt.Errorf("%q looks like a network interface of the host: %w", name, ErrHostLevel)
	}
	return nil
}
