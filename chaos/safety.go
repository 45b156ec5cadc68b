package chaos

import (
	"errors"

	"github.com/aiuptime/aiuptime/internal/procfs"
)

// Safety sentinels, branched on by callers.
var (
	// ErrHostNamespace refuses a fault that would act on the host's own
	// network (or mount, pid) namespace.
	ErrHostNamespace = procfs.ErrHostNamespace
	// ErrNotInStack refuses a target that is not a service of the stack under test.
	ErrNotInStack = errors.New("target is not a service of the stack under test")
	// ErrUnsupported is returned when no mechanism can apply the fault here.
	ErrUnsupported = errors.New("fault not supported here")
)
