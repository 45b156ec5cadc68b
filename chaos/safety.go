package chaos

import (
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"sort"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/aiuptime/aiuptime/stack"
)

// Safety sentinels, branched on by callers.
var (
	// ErrHostNamespace refuses a fault that would act on the host's own
	// network (or mount, pid) namespace.
	ErrHostNamespace = errors.New("refusing to act on the host namespace")
	// ErrNotInStack refuses a target that is not a service of the stack under test.
	ErrNotInStack = errors.New("target is not a service of the stack under test")
	// ErrUnsupported is returned when no mechanism can apply the fault here.
	ErrUnsupported = errors.New("fault not supported here")
)

// NSPath returns /proc/PID/ns/KIND.
func NSPath(pid int, kind string) string { return fmt.Sprintf("/proc/%d/ns/%s", pid, kind) }

func nsIdentity(path string) (uint64, uint64, error) {
	var st unix.Stat_t
	if err := unix.Stat(path, &st); err != nil {
		return 0, 0, err
	}
	return uint64(st.Dev), st.Ino, nil
}

// CheckNotHostNS returns an error wrapping ErrHostNamespace when the
// namespace at path (e.g. /proc/PID/ns/net) is the one of pid 1 or of this
// process; kind is "net", "mnt" or "pid".
func CheckNotHostNS(path, kind string) error {
	dev, ino, err := nsIdentity(path)
	if err != nil {
		return fmt.Errorf("inspect namespace %s: %w", path, err)
	}
	for _, ref := range []string{NSPath(1, kind), "/proc/self/ns/" + kind} {
		rdev, rino, err := nsIdentity(ref)
		if err != nil {
			if ref != "/proc/self/ns/"+kind && (errors.Is(err, unix.EACCES) || errors.Is(err, unix.EPERM)) {
				// pid 1 is outside our reach (we run in a sandbox); our own
				// namespace is still compared.
				continue
			}
			return fmt.Errorf("inspect namespace %s: %w", ref, err)
		}
		if rdev == dev && rino == ino {
			return fmt.Errorf("%w: %s is the same %s namespace as %s (a fault there would hit the host itself)", ErrHostNamespace, path, kind, ref)
		}
	}
	return nil
}

// CheckNetNS refuses the host network namespace (see CheckNotHostNS).
func CheckNetNS(path string) error { return CheckNotHostNS(path, "net") }

// Selector is a fault step's blast radius: named services, or a fraction of
// the services with a role.
type Selector struct {
	// Names lists services by name.
	Names []string `json:"names,omitempty"`
	// Role selects services with this role (with Fraction).
	Role stack.Role `json:"role,omitempty"`
	// Fraction of the role's services to hit, 0..1 (at least one is chosen).
	Fraction float64 `json:"fraction,omitempty"`
}

// ParseSelector decodes a plan's `target`: a name, a list of names, or
// {role: model, percent: 50}. Errors name the field.
func ParseSelector(v any) (Selector, error) {
	switch t := v.(type) {
	case nil:
		return Selector{}, errors.New("target: missing")
	case string:
		if t == "" {
			return Selector{}, errors.New("target: empty service name")
		}
		return Selector{Names: []string{t}}, nil
	case []string:
		return ParseSelector(toAny(t))
	case []any:
		if len(t) == 0 {
			return Selector{}, errors.New("target: empty list")
		}
		var s Selector
		for i, e := range t {
			n, ok := e.(string)
			if !ok || n == "" {
				return Selector{}, fmt.Errorf("target[%d]: want a service name, got %v", i, e)
			}
			s.Names = append(s.Names, n)
		}
		return s, nil
	case map[string]any:
		var s Selector
		for k, val := range t {
			switch k {
			case "role":
				r, ok := val.(string)
				if !ok || r == "" {
					return Selector{}, fmt.Errorf("target.role: want a role name, got %v", val)
				}
				s.Role = stack.Role(r)
			case "percent":
				p, err := ParamFloat(val)
				if err != nil {
					return Selector{}, fmt.Errorf("target.percent: %w", err)
				}
				if p <= 0 || p > 100 {
					return Selector{}, fmt.Errorf("target.percent: %v is outside (0, 100]", p)
				}
				s.Fraction = p / 100
			default:
				return Selector{}, fmt.Errorf("target.%s: unknown field (want role, percent)", k)
			}
		}
		if s.Role == "" {
			return Selector{}, errors.New("target.role: missing")
		}
		if s.Fraction == 0 {
			s.Fraction = 1
		}
		return s, nil
	default:
		return Selector{}, fmt.Errorf("target: want a name, a list or {role, percent}, got %T", v)
	}
}

func toAny(ss []string) []any {
	out := make([]any, len(ss))
	for i, s := range ss {
		out[i] = s
	}
	return out
}

// ParamFloat reads a numeric plan param: a YAML number, or a string such as
// "12.5" or "12.5%" (the % is dropped; the caller decides the scale).
func ParamFloat(v any) (float64, error) {
	switch n := v.(type) {
	case int:
		return float64(n), nil
	case int64:
		return float64(n), nil
	case uint64:
		return float64(n), nil
	case float64:
		return n, nil
	case string:
		f, err := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(n), "%"), 64)
		if err != nil {
			return 0, fmt.Errorf("want a number, got %q", n)
		}
		return f, nil
	}
	return 0, fmt.Errorf("want a number, got %T", v)
}

// Select resolves the selector against the live stack. Every name must be a
// service of the stack (ErrNotInStack otherwise); a role selection picks
// ceil(n*Fraction) services (at least one), in name order.
func (s Selector) Select(ctx context.Context, st stack.Stack) ([]stack.Service, error) {
	svcs, err := st.Services(ctx)
	if err != nil {
		return nil, fmt.Errorf("select targets: %w", err)
	}
	byName := map[string]stack.Service{}
	for _, sv := range svcs {
		byName[sv.Name] = sv
	}
	var out []stack.Service
	if len(s.Names) > 0 {
		for _, n := range s.Names {
			sv, ok := byName[n]
			if !ok {
				return nil, fmt.Errorf("target %q: %w", n, ErrNotInStack)
			}
			out = append(out, sv)
		}
		return out, nil
	}
	if s.Role == "" {
		return nil, errors.New("target: missing")
	}
	for _, sv := range svcs {
		if sv.Role == s.Role {
			out = append(out, sv)
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("target.role %q: no such services: %w", s.Role, ErrNotInStack)
	}
	sort.Slice(out, func(a, b int) bool { return out[a].Name < out[b].Name })
	k := int(math.Ceil(float64(len(out)) * s.Fraction))
	k = max(1, min(k, len(out)))
	return out[:k], nil
}

// pidAlive reports whether a process exists.
func pidAlive(pid int) bool {
	_, err := os.Stat(fmt.Sprintf("/proc/%d", pid))
	return err == nil
}

// ProcessStartTime returns field 22 of /proc/PID/stat (start time in clock
// ticks), which tells a live process from a recycled pid.
func ProcessStartTime(pid int) (uint64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0, fmt.Errorf("parse /proc/%d/stat: no comm", pid)
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 20 {
		return 0, fmt.Errorf("parse /proc/%d/stat: short", pid)
	}
	return strconv.ParseUint(f[19], 10, 64)
}

// ProcessState returns the one-letter state of a process (R, S, T, Z, ...).
func ProcessState(pid int) (string, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return "", err
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	f := strings.Fields(s[i+1:])
	if i < 0 || len(f) < 1 {
		return "", fmt.Errorf("parse /proc/%d/stat", pid)
	}
	return f[0], nil
}
