// Package chaos defines the fault contract, the crash-safe revert journal and
// the safety checks. Each fault kind lives in its own sub-package.
package chaos

import "context"

// Revert undoes one injection. It is idempotent: "already gone" is success.
type Revert func(ctx context.Context) error

// Fault is one injectable fault.
type Fault interface {
	Name() string
	// Inject applies the fault. The returned Revert is usable even when err
	// is non-nil (a half-applied fault is undone by it).
	Inject(ctx context.Context) (Revert, error)
}
