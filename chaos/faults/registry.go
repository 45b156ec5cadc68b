// Package faults is the registry of fault kinds used by the plan decoder and
// the drill runner: it lists the kinds and their params (Kinds), validates
// a step's params (Validate) and builds a chaos.Fault for a target service
// (Build). Importing it registers every kind's journal reverter, so
// chaos.Replay can undo any of them.
package faults

import (
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/aiuptime/aiuptime/chaos"
	"github.com/aiuptime/aiuptime/chaos/disk"
	"github.com/aiuptime/aiuptime/chaos/gpu"
	"github.com/aiuptime/aiuptime/chaos/network"
	"github.com/aiuptime/aiuptime/stack"
)

// Param describes one param of a fault kind.
type Param struct {
	Name string `json:"name"`
	// Type is duration, percent, rate, bytes, signal, volume, service or string.
	Type    string `json:"type"`
	Default string `json:"default,omitempty"`
	Doc     string `json:"doc"`
	// Required params must be given.
	Required bool `json:"required,omitempty"`
}

// Kind describes one fault kind.
type Kind struct {
	Name        string  `json:"name"`
	Description string  `json:"description"`
	Params      []Param `json:"params"`
}

// Fault kind names (the plan's `fault:` values).
const (
	NetworkDelay     = "network-delay"
	NetworkLoss      = "network-loss"
	NetworkBandwidth = "network-bandwidth"
	NetworkPartition = "network-partition"
	GPUKill          = "gpu-kill"
	GPUHang          = "gpu-hang"
	DiskWipe         = "disk-wipe"
	DiskCorrupt      = "disk-corrupt"
	DiskReadOnly     = "disk-readonly"
	DiskFull         = "disk-full"
	ContainerKill    = "container-kill"
	ContainerStop    = "container-stop"
	ContainerPause   = "container-pause"
	ContainerRestart = "container-restart"
	ContainerRemove  = "container-remove"
)

var volumeParams = []Param{
	{Name: "volume", Type: "volume", Required: true, Doc: "which volume: models (a model server's weights) or data (the gateway's database)"},
	{Name: "path", Type: "string", Doc: "a file or directory relative to the volume root"},
}

var kinds = []Kind{
	{NetworkDelay, "add latency to what the target sends (netem; Toxiproxy latency toxic in front of the service when sch_netem is missing)", []Param{
		{Name: "delay", Type: "duration", Required: true, Doc: "added latency, e.g. 200ms"},
		{Name: "jitter", Type: "duration", Default: "0s", Doc: "random variation"},
		{Name: "correlation", Type: "percent", Default: "0", Doc: "correlation with the previous delay (netem only)"},
	}},
	{NetworkLoss, "drop a share of the packets the target sends (netem loss; nftables numgen random drop without netem)", []Param{
		{Name: "percent", Type: "percent", Required: true, Doc: "share of packets dropped, 0 < p <= 100"},
		{Name: "correlation", Type: "percent", Default: "0", Doc: "correlation with the previous drop (netem only)"},
		{Name: "peer", Type: "service", Doc: "only traffic towards this service (nftables)"},
	}},
	{NetworkBandwidth, "limit what the target sends with a token bucket (tbf)", []Param{
		{Name: "rate", Type: "rate", Required: true, Doc: "e.g. 100kbit, 10mbit"},
	}},
	{NetworkPartition, "cut the target off: every link down, or nftables drops towards one peer", []Param{
		{Name: "peer", Type: "service", Doc: "cut only traffic to and from this service (default: all)"},
	}},
	{GPUKill, "signal the target's GPU processes found by nvidia-smi", []Param{
		{Name: "signal", Type: "signal", Default: "KILL", Doc: "signal to send"},
	}},
	{GPUHang, "SIGSTOP the target's GPU processes (requests hang, health may stay green); revert SIGCONT", nil},
	{DiskWipe, "remove every file of a volume (recovery needs a DR restore; the journal keeps a snapshot)", volumeParams},
	{DiskCorrupt, "flip bytes in the middle of one shard; revert restores them", append(append([]Param(nil), volumeParams...), Param{Name: "bytes", Type: "bytes", Default: strconv.Itoa(disk.DefaultCorruptBytes), Doc: "how many bytes to flip"})},
	{DiskReadOnly, "remount the volume read-only inside the container (writes fail with EROFS)", volumeParams},
	{DiskFull, "fill the volume's own filesystem to ENOSPC; revert deletes the filler", append(append([]Param(nil), volumeParams...), Param{Name: "leave_bytes", Type: "bytes", Default: "0", Doc: "space left free"})},
	{ContainerKill, "docker kill with a signal; revert starts it if it stays down", []Param{
		{Name: "signal", Type: "signal", Default: "KILL", Doc: "signal to send"},
	}},
	{ContainerStop, "docker stop; revert docker start", []Param{{Name: "timeout", Type: "duration", Default: "5s", Doc: "grace period before SIGKILL"}}},
	{ContainerPause, "docker pause (freezes every process); revert docker unpause", nil},
	{ContainerRestart, "docker restart", []Param{{Name: "timeout", Type: "duration", Default: "5s", Doc: "grace period before SIGKILL"}}},
	{ContainerRemove, "docker rm -f; revert recreates it with the same name, labels, aliases, mounts and ports", nil},
}

// Kinds lists every fault kind with its params, in name order.
func Kinds() []Kind {
	out := append([]Kind(nil), kinds...)
	sort.Slice(out, func(a, b int) bool { return out[a].Name < out[b].Name })
	return out
}

// Lookup returns one kind.
func Lookup(name string) (Kind, bool) {
	for _, k := range kinds {
		if k.Name == name {
			return k, true
		}
	}
	return Kind{}, false
}

// Validate checks a step's kind and params without touching anything.
// Errors name the field: "fault: unknown kind", "params.delay: ...".
func Validate(kind string, params map[string]any) error {
	_, err := decode(kind, params)
	return err
}

// spec is the decoded params of any kind.
type spec struct {
	kind      string
	delay     network.DelaySpec
	loss      network.LossSpec
	bandwidth network.BandwidthSpec
	partition network.PartitionSpec
	signal    string
	disk      disk.Spec
	timeout   time.Duration
}

func decode(kind string, params map[string]any) (spec, error) {
	k, ok := Lookup(kind)
	if !ok {
		names := make([]string, len(kinds))
		for i, k := range kinds {
			names[i] = k.Name
		}
		return spec{}, fmt.Errorf("fault: unknown kind %q (want one of %s)", kind, strings.Join(names, ", "))
	}
	known := map[string]Param{}
	for _, p := range k.Params {
		known[p.Name] = p
	}
	for name := range params {
		if _, ok := known[name]; !ok {
			var ns []string
			for _, p := range k.Params {
				ns = append(ns, p.Name)
			}
			return spec{}, fmt.Errorf("params.%s: unknown param of %s (known: %s)", name, kind, orNone(ns))
		}
	}
	for _, p := range k.Params {
		if _, ok := params[p.Name]; p.Required && !ok {
			return spec{}, fmt.Errorf("params.%s: missing (required by %s)", p.Name, kind)
		}
	}
	s := spec{kind: kind}
	var err error
	get := func(name string) (any, bool) { v, ok := params[name]; return v, ok }
	fail := func(name string, e error) error { return fmt.Errorf("params.%s: %w", name, e) }
	switch kind {
	case NetworkDelay:
		v, _ := get("delay")
		if s.delay.Delay, err = toDuration(v); err != nil {
			return s, fail("delay", err)
		}
		if s.delay.Delay <= 0 {
			return s, fail("delay", fmt.Errorf("%v must be positive", s.delay.Delay))
		}
		if v, ok := get("jitter"); ok {
			if s.delay.Jitter, err = toDuration(v); err != nil {
				return s, fail("jitter", err)
			}
			if s.delay.Jitter < 0 {
				return s, fail("jitter", fmt.Errorf("%v must not be negative", s.delay.Jitter))
			}
		}
		if v, ok := get("correlation"); ok {
			if s.delay.Correlation, err = toFraction(v, true); err != nil {
				return s, fail("correlation", err)
			}
		}
	case NetworkLoss:
		v, _ := get("percent")
		if s.loss.Fraction, err = toFraction(v, false); err != nil {
			return s, fail("percent", err)
		}
		if v, ok := get("correlation"); ok {
			if s.loss.Correlation, err = toFraction(v, true); err != nil {
				return s, fail("correlation", err)
			}
		}
		if v, ok := get("peer"); ok {
			if s.loss.Peer, err = toName(v); err != nil {
				return s, fail("peer", err)
			}
		}
	case NetworkBandwidth:
		v, _ := get("rate")
		r, ok := v.(string)
		if !ok {
			return s, fail("rate", fmt.Errorf("want a rate such as 10mbit, got %v", v))
		}
		if _, err := network.ParseRate(r); err != nil {
			return s, fmt.Errorf("params.%w", err)
		}
		s.bandwidth.Rate = r
	case NetworkPartition:
		if v, ok := get("peer"); ok {
			if s.partition.Peer, err = toName(v); err != nil {
				return s, fail("peer", err)
			}
		}
	case GPUKill, ContainerKill:
		if v, ok := get("signal"); ok {
			str := fmt.Sprint(v)
			if _, err := gpu.ParseSignal(str); err != nil {
				return s, fmt.Errorf("params.%w", err)
			}
			s.signal = str
		}
	case ContainerStop, ContainerRestart:
		if v, ok := get("timeout"); ok {
			if s.timeout, err = toDuration(v); err != nil || s.timeout < 0 {
				return s, fail("timeout", fmt.Errorf("want a non-negative duration, got %v", v))
			}
		}
	case DiskWipe, DiskCorrupt, DiskReadOnly, DiskFull:
		v, _ := get("volume")
		vol, _ := v.(string)
		if vol != stack.VolumeModels && vol != stack.VolumeData {
			return s, fail("volume", fmt.Errorf("%v must be %s or %s", v, stack.VolumeModels, stack.VolumeData))
		}
		s.disk.Volume = vol
		if v, ok := get("path"); ok {
			p, ok := v.(string)
			if !ok {
				return s, fail("path", fmt.Errorf("want a relative path, got %v", v))
			}
			s.disk.Path = p
		}
		if v, ok := get("leave_bytes"); ok {
			n, err := toInt(v)
			if err != nil || n < 0 {
				return s, fail("leave_bytes", fmt.Errorf("want a non-negative byte count, got %v", v))
			}
			s.disk.LeaveBytes = n
		}
		if v, ok := get("bytes"); ok {
			n, err := toInt(v)
			if err != nil || n <= 0 || n > 1<<20 {
				return s, fail("bytes", fmt.Errorf("want 1..1048576, got %v", v))
			}
			s.disk.Bytes = int(n)
		}
		if err := s.disk.Validate(); err != nil {
			return s, fmt.Errorf("params.%w", err)
		}
	}
	return s, nil
}

func orNone(ns []string) string {
	if len(ns) == 0 {
		return "none"
	}
	return strings.Join(ns, ", ")
}

func toDuration(v any) (time.Duration, error) {
	switch t := v.(type) {
	case time.Duration:
		return t, nil
	case string:
		d, err := time.ParseDuration(strings.TrimSpace(t))
		if err != nil {
			return 0, fmt.Errorf("want a duration such as 200ms, got %q", t)
		}
		return d, nil
	case int, int64, uint64, float64:
		f, _ := chaos.ParamFloat(t)
		if f == 0 {
			return 0, nil
		}
		return 0, fmt.Errorf("want a duration with a unit (e.g. 200ms), got the bare number %v", t)
	}
	return 0, fmt.Errorf("want a duration such as 200ms, got %T", v)
}

// toFraction turns a percentage (0..100, "12.5%" accepted) into 0..1.
func toFraction(v any, zeroOK bool) (float64, error) {
	f, err := chaos.ParamFloat(v)
	if err != nil {
		return 0, err
	}
	if math.IsNaN(f) || f < 0 || f > 100 || (!zeroOK && f == 0) {
		lo := "0 <"
		if zeroOK {
			lo = "0 <="
		}
		return 0, fmt.Errorf("%v %% is out of range (%s p <= 100)", f, lo)
	}
	return f / 100, nil
}

func toInt(v any) (int64, error) {
	f, err := chaos.ParamFloat(v)
	if err != nil {
		return 0, err
	}
	if f != math.Trunc(f) {
		return 0, fmt.Errorf("want an integer, got %v", f)
	}
	return int64(f), nil
}

func toName(v any) (string, error) {
	s, ok := v.(string)
	if !ok || s == "" {
		return "", fmt.Errorf("want a service name, got %v", v)
	}
	return s, nil
}
