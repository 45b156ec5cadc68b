package drill

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Param types in KindInfo tables.
const (
	ParamString   = "string"
	ParamDuration = "duration" // a Go duration string
	ParamPercent  = "percent"  // 0..100
	ParamInt      = "int"
	ParamRate     = "rate" // a tc rate: 100kbit, 10mbit, 1gbit
	ParamSignal   = "signal"
	ParamEnum     = "enum"
	ParamBool     = "bool"
	ParamSize     = "bytes" // an integer count of bytes
)

// ParamInfo documents one param of a fault or action kind.
type ParamInfo struct {
	Name     string   `json:"name"`
	Type     string   `json:"type"`
	Doc      string   `json:"doc"`
	Default  string   `json:"default,omitempty"`
	Required bool     `json:"required,omitempty"`
	Enum     []string `json:"enum,omitempty"`
}

// KindInfo documents a fault, action or await kind and its params.
type KindInfo struct {
	Name   string      `json:"name"`
	Doc    string      `json:"doc"`
	Params []ParamInfo `json:"params,omitempty"`
	// Strict rejects params not listed.
	Strict bool `json:"-"`
}

// Fault kind names, as the plan's fault: values (DESIGN.md).
const (
	FaultNetworkDelay     = "network-delay"
	FaultNetworkLoss      = "network-loss"
	FaultNetworkBandwidth = "network-bandwidth"
	FaultNetworkPartition = "network-partition"
	FaultGPUKill          = "gpu-kill"
	FaultGPUHang          = "gpu-hang"
	FaultDiskWipe         = "disk-wipe"
	FaultDiskCorrupt      = "disk-corrupt"
	FaultDiskReadonly     = "disk-readonly"
	FaultDiskFull         = "disk-full"
	FaultContainerKill    = "container-kill"
	FaultContainerStop    = "container-stop"
	FaultContainerPause   = "container-pause"
	FaultContainerRestart = "container-restart"
	FaultContainerRemove  = "container-remove"
)

var diskParams = []ParamInfo{
	{Name: "volume", Type: ParamEnum, Enum: []string{"models", "data"}, Required: true, Doc: "which volume of the service"},
	{Name: "path", Type: ParamString, Doc: "a path inside the volume (default: all of it)"},
}

func withParams(base []ParamInfo, more ...ParamInfo) []ParamInfo {
	return append(append([]ParamInfo(nil), base...), more...)
}

// FaultKinds is the built-in table of fault kinds and their params, as the
// command-line contract in DESIGN.md fixes them. The chaos registry is the
// authority at run time: point ListFaultKinds and WithFaultValidator at it.
var FaultKinds = []KindInfo{
	{Name: FaultNetworkDelay, Strict: true, Doc: "add latency to the target's traffic (netem; Toxiproxy latency where netem is missing)", Params: []ParamInfo{
		{Name: "delay", Type: ParamDuration, Required: true, Doc: "added one-way delay"},
		{Name: "jitter", Type: ParamDuration, Doc: "random variation of the delay"},
		{Name: "correlation", Type: ParamPercent, Doc: "correlation with the previous packet's delay"},
	}},
	{Name: FaultNetworkLoss, Strict: true, Doc: "drop a share of the target's packets (netem; nftables numgen where netem is missing)", Params: []ParamInfo{
		{Name: "percent", Type: ParamPercent, Required: true, Doc: "share of packets dropped"},
		{Name: "correlation", Type: ParamPercent, Doc: "correlation with the previous packet's fate"},
		{Name: "peer", Type: ParamString, Doc: "only traffic towards this service (nftables)"},
	}},
	{Name: FaultNetworkBandwidth, Strict: true, Doc: "limit the target's bandwidth (tbf)", Params: []ParamInfo{
		{Name: "rate", Type: ParamRate, Required: true, Doc: "rate such as 100kbit or 10mbit"},
	}},
	{Name: FaultNetworkPartition, Strict: true, Doc: "cut the target off the network (nftables drop)", Params: []ParamInfo{
		{Name: "peer", Type: ParamString, Doc: "only cut traffic with this service (default: all)"},
	}},
	{Name: FaultGPUKill, Strict: true, Doc: "kill the GPU process (the engine) of the target, found through nvidia-smi", Params: []ParamInfo{
		{Name: "signal", Type: ParamSignal, Default: "KILL", Doc: "signal sent to the process"},
	}},
	{Name: FaultGPUHang, Strict: true, Doc: "hang the GPU process (SIGSTOP): health stays green, completions stall"},
	{Name: FaultDiskWipe, Strict: true, Doc: "delete the files of a volume", Params: diskParams},
	{Name: FaultDiskCorrupt, Strict: true, Doc: "corrupt the files of a volume; revert restores them", Params: withParams(diskParams,
		ParamInfo{Name: "bytes", Type: ParamSize, Doc: "how many bytes to flip"})},
	{Name: FaultDiskReadonly, Strict: true, Doc: "make a volume read-only", Params: diskParams},
	{Name: FaultDiskFull, Strict: true, Doc: "fill a volume", Params: withParams(diskParams,
		ParamInfo{Name: "leave_bytes", Type: ParamSize, Doc: "bytes left free (default 0)"})},
	{Name: FaultContainerKill, Strict: true, Doc: "kill the target's container", Params: []ParamInfo{
		{Name: "signal", Type: ParamSignal, Default: "KILL", Doc: "signal sent to the container"},
	}},
	{Name: FaultContainerStop, Strict: true, Doc: "stop the target's container (started again on revert)", Params: []ParamInfo{
		{Name: "timeout", Type: ParamDuration, Default: "5s", Doc: "grace period before SIGKILL"}}},
	{Name: FaultContainerPause, Strict: true, Doc: "pause the target's container (unpaused on revert)"},
	{Name: FaultContainerRestart, Strict: true, Doc: "restart the target's container", Params: []ParamInfo{
		{Name: "timeout", Type: ParamDuration, Default: "5s", Doc: "grace period before SIGKILL"}}},
	{Name: FaultContainerRemove, Strict: true, Doc: "remove the target's container (recreated on revert)"},
}

// releaseParams are the params of actions that move model servers to a release.
var releaseParams = []ParamInfo{
	{Name: "image", Type: ParamString, Doc: "new image (checked to exist before anything is touched)"},
	{Name: "version", Type: ParamString, Doc: "new model version: a freshly generated model dir (the golden answer may change)"},
	{Name: "args", Type: ParamString, Doc: "extra server arguments, space-separated, e.g. \"--extra-latency 500ms\""},
	{Name: "drain_timeout", Type: ParamDuration, Default: "30s", Doc: "wait for a replica's in-flight requests (vllm:num_requests_running = 0)"},
}

// ActionKinds is the built-in table of action kinds. Their params belong to
// the rollout and backup packages; point WithActionValidator at their
// registries for a full check.
var ActionKinds = []KindInfo{
	{Name: "rolling-update", Strict: true, Doc: "replace model replicas (target; default all) one at a time: delete from the gateway, drain, replace, health and golden check, re-add; zero failed requests is the bar; a failing replica rolls the replaced ones back", Params: releaseParams},
	{Name: "blue-green", Strict: true, Doc: "start a green twin of every replica, verify it, switch the gateway in one admin step, keep blue for an instant rollback; reports switch and rollback times", Params: withParams(releaseParams,
		ParamInfo{Name: "rollback_after", Type: ParamDuration, Doc: "switch back to blue after this long and time it (default: stay on green; a later rollback step undoes)"})},
	{Name: "canary", Strict: true, Doc: "add a canary replica and shift weights in steps, analysing each interval against the baseline (error rate <= baseline + increase, p95 <= baseline x (1 + increase), min samples); roll back on a breach, else promote", Params: withParams(releaseParams,
		ParamInfo{Name: "steps", Type: ParamString, Default: "5,25,50,100", Doc: "canary traffic shares in percent"},
		ParamInfo{Name: "interval", Type: ParamDuration, Default: "10s", Doc: "analysis interval per step (extended up to 4x for min_samples)"},
		ParamInfo{Name: "max_error_rate_increase", Type: ParamPercent, Default: "1", Doc: "allowed error-rate increase over the baseline, percentage points"},
		ParamInfo{Name: "max_p95_increase", Type: ParamPercent, Default: "50", Doc: "allowed p95 increase over the baseline, percent"},
		ParamInfo{Name: "min_samples", Type: ParamInt, Default: "10", Doc: "canary requests needed per step"},
		ParamInfo{Name: "promote", Type: ParamEnum, Enum: []string{"rolling", "keep"}, Default: "rolling", Doc: "rolling: roll the baseline replicas to the release and remove the canary; keep: leave the canary serving alone"},
		ParamInfo{Name: "expect", Type: ParamEnum, Enum: []string{"promoted", "rolled-back"}, Doc: "the decision this step expects (a different one fails the step)"})},
	{Name: "rollback", Strict: true, Doc: "undo the last rollout of this drill (blue-green: switch back to blue; rolling-update: roll the replicas back)"},
	{Name: "gateway-update", Strict: true, Doc: "start a second gateway instance with the new release, verify it, drain-and-replace the primary while it serves, remove the second (a client pinned to the primary's one port sees the restart gap)", Params: []ParamInfo{
		{Name: "image", Type: ParamString, Doc: "new gateway image"}, {Name: "args", Type: ParamString, Doc: "extra gateway arguments"}}},
	{Name: "model-update", Strict: true, Doc: "rolling update to a new model version (the golden prompt may change, and the report says so)", Params: releaseParams},
	{Name: "backup", Strict: true, Doc: "snapshot configuration, models, gateway data (SQLite VACUUM INTO, while serving) and system state with a checksummed manifest", Params: []ParamInfo{
		{Name: "dir", Type: ParamString, Doc: "snapshot directory (default: a new dir under the state dir)"}}},
	{Name: "restore", Strict: true, Doc: "verify every checksum of a snapshot, then restore it (target: only these services' models); measures RTO with phases, RPO in rows and seconds, golden prompt", Params: []ParamInfo{
		{Name: "dir", Type: ParamString, Doc: "snapshot directory (default: the drill's last backup)"},
		{Name: "only", Type: ParamEnum, Enum: []string{"all", "models", "data", "config"}, Default: "all", Doc: "what to restore"}}},
}

// ListFaultKinds returns the fault kinds `drill list` shows. It returns the
// built-in table; the CLI points it at the chaos registry once wired.
var ListFaultKinds = func() []KindInfo { return FaultKinds }

// ListActionKinds returns the action kinds `drill list` shows.
var ListActionKinds = func() []KindInfo { return ActionKinds }

func findKind(kinds []KindInfo, name string) (KindInfo, bool) {
	for _, k := range kinds {
		if k.Name == name {
			return k, true
		}
	}
	return KindInfo{}, false
}

func kindNames(kinds []KindInfo) []string {
	out := make([]string, len(kinds))
	for i, k := range kinds {
		out[i] = k.Name
	}
	return out
}

// CheckParams checks params against a kind's table: required params,
// unknown params (for strict kinds) and each value's type.
func CheckParams(k KindInfo, params map[string]any) error {
	for _, p := range k.Params {
		if _, ok := params[p.Name]; p.Required && !ok {
			return &ParamError{Param: p.Name, Msg: "required by " + k.Name}
		}
	}
	keys := make([]string, 0, len(params))
	for key := range params {
		keys = append(keys, key)
	}
	sort.Strings(keys)
	for _, key := range keys {
		var info *ParamInfo
		for i := range k.Params {
			if k.Params[i].Name == key {
				info = &k.Params[i]
			}
		}
		if info == nil {
			if k.Strict {
				known := make([]string, len(k.Params))
				for i, p := range k.Params {
					known[i] = p.Name
				}
				msg := "unknown param of " + k.Name
				if len(known) > 0 {
					msg += " (known: " + strings.Join(known, ", ") + ")"
				} else {
					msg += " (it takes none)"
				}
				return &ParamError{Param: key, Msg: msg}
			}
			continue
		}
		if err := checkParamValue(*info, params[key]); err != nil {
			return &ParamError{Param: key, Msg: err.Error()}
		}
	}
	return nil
}

var signals = map[string]bool{"KILL": true, "TERM": true, "INT": true, "HUP": true, "QUIT": true, "STOP": true, "USR1": true, "USR2": true, "ABRT": true, "SEGV": true}

func checkParamValue(p ParamInfo, v any) error {
	s := fmt.Sprint(v)
	switch p.Type {
	case ParamDuration:
		d, err := time.ParseDuration(s)
		if err != nil || d < 0 {
			return fmt.Errorf("want a duration such as 200ms, got %q", s)
		}
	case ParamPercent:
		f, err := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(s), "%"), 64)
		if err != nil || f < 0 || f > 100 {
			return fmt.Errorf("want a percentage 0..100, got %q", s)
		}
	case ParamInt, ParamSize:
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil || n < 0 {
			return fmt.Errorf("want a non-negative integer, got %q", s)
		}
	case ParamRate:
		if !rateRE(s) {
			return fmt.Errorf("want a rate such as 100kbit or 10mbit, got %q", s)
		}
	case ParamSignal:
		if !signals[strings.TrimPrefix(strings.ToUpper(s), "SIG")] {
			return fmt.Errorf("unknown signal %q", s)
		}
	case ParamEnum:
		for _, e := range p.Enum {
			if s == e {
				return nil
			}
		}
		return fmt.Errorf("want one of %s, got %q", strings.Join(p.Enum, ", "), s)
	case ParamBool:
		if _, ok := v.(bool); !ok {
			return fmt.Errorf("want true or false, got %q", s)
		}
	case ParamString:
		if _, ok := v.(string); !ok {
			return fmt.Errorf("want a string, got %v", v)
		}
	}
	return nil
}

// rateRE accepts tc's rate syntax: a number and bit/kbit/mbit/gbit/bps/kbps/mbps/gbps.
func rateRE(s string) bool {
	s = strings.ToLower(strings.TrimSpace(s))
	for _, u := range []string{"kbit", "mbit", "gbit", "tbit", "kbps", "mbps", "gbps", "bit", "bps"} {
		if strings.HasSuffix(s, u) {
			f, err := strconv.ParseFloat(strings.TrimSuffix(s, u), 64)
			return err == nil && f > 0
		}
	}
	return false
}

func builtinFaultValidator(kind string, params map[string]any) error {
	k, ok := findKind(FaultKinds, kind)
	if !ok {
		return fmt.Errorf("unknown fault kind %q (known: %s)", kind, strings.Join(kindNames(FaultKinds), ", "))
	}
	return CheckParams(k, params)
}

func builtinActionValidator(kind string, params map[string]any) error {
	k, ok := findKind(ActionKinds, kind)
	if !ok {
		return fmt.Errorf("unknown action kind %q (known: %s)", kind, strings.Join(kindNames(ActionKinds), ", "))
	}
	return CheckParams(k, params)
}
