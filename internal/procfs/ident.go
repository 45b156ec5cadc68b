package procfs

import (
	"fmt"
	"os"
	"strings"
	"sync"
)

// BootIDPath is the kernel's random id of the current boot.
const BootIDPath = "/proc/sys/kernel/random/boot_id"

var bootID struct {
	once sync.Once
	id   string
	err  error
}

// BootID returns the id of the current boot (read once): a pid and start
// time recorded before a reboot name nobody after it.
func BootID() (string, error) {
	bootID.once.Do(func() {
		b, err := os.ReadFile(BootIDPath)
		if err != nil {
			bootID.err = fmt.Errorf("boot id: %w", err)
			return
		}
		bootID.id = strings.TrimSpace(string(b))
		if bootID.id == "" {
			bootID.err = fmt.Errorf("boot id: %s is empty", BootIDPath)
		}
	})
	return bootID.id, bootID.err
}

// Ident identifies a process across pid reuse and reboots: its pid, its
// start time in clock ticks since boot, and the boot id.
type Ident struct {
	PID   int    `json:"pid"`
	Start uint64 `json:"start"`
	Boot  string `json:"boot"`
}

// Self is the identity of this process.
func Self() (Ident, error) { return IdentOf(os.Getpid()) }

// IdentOf is the identity of a live process.
func IdentOf(pid int) (Ident, error) {
	boot, err := BootID()
	if err != nil {
		return Ident{}, err
	}
	start, err := StartTime(pid)
	if err != nil {
		return Ident{}, fmt.Errorf("start time of pid %d: %w", pid, err)
	}
	return Ident{PID: pid, Start: start, Boot: boot}, nil
}

// Alive reports whether the process is still running: same boot, the pid
// exists and started at the same time. An identity without a start time or
// boot id (written by an older version) is alive while its pid exists: it
// cannot be told from a recycled pid, so it is never declared dead early.
func (id Ident) Alive() bool {
	if id.PID <= 0 {
		return false
	}
	if id.Boot != "" {
		boot, err := BootID()
		if err == nil && boot != id.Boot {
			return false
		}
	}
	if id.Start == 0 {
		return running(id.PID)
	}
	return Alive(id.PID, id.Start)
}

// String renders the identity as "pid 42 (start 123, boot 0e1f...)".
func (id Ident) String() string {
	boot := id.Boot
	if len(boot) > 8 {
		boot = boot[:8]
	}
	return fmt.Sprintf("pid %d (start %d, boot %s)", id.PID, id.Start, boot)
}

// Label renders the identity as one Docker label value "PID.START.BOOT";
// ParseLabel reads it back.
func (id Ident) Label() string { return fmt.Sprintf("%d.%d.%s", id.PID, id.Start, id.Boot) }

// ParseLabel reads an identity written by Label.
func ParseLabel(s string) (Ident, error) {
	var id Ident
	parts := strings.SplitN(s, ".", 3)
	if len(parts) != 3 {
		return id, fmt.Errorf("owner label %q: want PID.START.BOOT", s)
	}
	if _, err := fmt.Sscanf(parts[0]+" "+parts[1], "%d %d", &id.PID, &id.Start); err != nil || id.PID <= 0 {
		return Ident{}, fmt.Errorf("owner label %q: want PID.START.BOOT", s)
	}
	id.Boot = parts[2]
	return id, nil
}
