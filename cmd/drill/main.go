// Command drill runs disaster-recovery and update drills against an on-prem
// AI inference stack and writes the evidence (JUnit, JSON, Markdown, HTML,
// Prometheus textfile).
//
// Each subcommand lives in its own file and registers itself with
// addCommand from an init function.
package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"
)

// Exit codes, fixed by the command-line contract.
const (
	ExitPass    = 0 // drill passed
	ExitSLO     = 1 // an SLO was breached
	ExitUsage   = 2 // bad usage or invalid plan
	ExitHarness = 3 // harness or injection error
	ExitRevert  = 4 // a revert failed: something may be left behind
	ExitAborted = 5 // aborted by a stop condition or a signal
)

// exitError carries an exit code on an error, read with errors.As.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

// ExitCode returns the process exit code the error asks for.
func (e *exitError) ExitCode() int { return e.code }

// withExit attaches an exit code to err (nil stays nil).
func withExit(code int, err error) error {
	if err == nil {
		return nil
	}
	return &exitError{code: code, err: err}
}

// exitCoder is implemented by errors that know their exit code, including
// ones from other packages (drill, chaos).
type exitCoder interface{ ExitCode() int }

var commands []func() *cobra.Command

// addCommand registers a subcommand constructor; call it from init.
func addCommand(f func() *cobra.Command) { commands = append(commands, f) }

// logger is the CLI's structured logger (stderr), set up in main.
var logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))

func newRoot() *cobra.Command {
	root := &cobra.Command{
		Use:           "drill",
		Short:         "Disaster-recovery and update drills for on-prem AI inference stacks",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	var verbose bool
	root.PersistentFlags().BoolVarP(&verbose, "verbose", "v", false, "debug logging")
	root.PersistentPreRun = func(*cobra.Command, []string) {
		if verbose {
			logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
		}
	}
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return withExit(ExitUsage, err) })
	for _, f := range commands {
		root.AddCommand(f())
	}
	return root
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	err := newRoot().ExecuteContext(ctx)
	os.Exit(report(err))
}

// report prints err and returns the exit code it carries.
func report(err error) int {
	if err == nil {
		return ExitPass
	}
	fmt.Fprintln(os.Stderr, "drill:", err)
	var ec exitCoder
	if errors.As(err, &ec) {
		return ec.ExitCode()
	}
	return ExitUsage
}
