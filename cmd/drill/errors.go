package main

import (
	"errors"
	"fmt"
	"regexp"
	"strings"

	"github.com/spf13/cobra"

	"github.com/aiuptime/aiuptime/exitcode"
	"github.com/aiuptime/aiuptime/internal/yamldoc"
)

// usageError is a mistake in how drill was called: an unknown command or
// flag, a flag value that does not parse, a missing required flag, the
// wrong number of arguments. It exits 2, and its report ends with a line
// naming the command's --help.
type usageError struct {
	path string // the command path, "drill run"
	err  error
}

func (e *usageError) Error() string { return e.err.Error() }

func (e *usageError) Unwrap() error { return e.err }

// ExitCode makes a usage error exit 2.
func (e *usageError) ExitCode() int { return exitcode.Usage }

// hint is the last line of a usage error's report.
func (e *usageError) hint() string { return fmt.Sprintf("Run '%s --help' for usage.", e.path) }

// asUsage marks err as a usage error of cmd; nil stays nil and an error
// already marked keeps the command it names.
func asUsage(cmd *cobra.Command, err error) error {
	var ue *usageError
	if err == nil || errors.As(err, &ue) {
		return err
	}
	return &usageError{path: cmd.CommandPath(), err: err}
}

// leadingFlag is a message that starts with a flag's name, the way the
// commands word a refused flag value or combination ("--progress "x":
// want auto, always or never", "--compare and --trend exclude each
// other").
var leadingFlag = regexp.MustCompile(`^--([a-z0-9][a-z0-9-]*)\b`)

// namesOwnFlag reports whether err, returned by cmd, is a flag of cmd
// used wrongly: it exits 2, holds no problem of a document, and starts
// with the name of one of cmd's flags.
func namesOwnFlag(cmd *cobra.Command, err error) bool {
	var ye *yamldoc.Error
	if exitcode.Of(err, exitcode.Pass) != exitcode.Usage || errors.As(err, &ye) {
		return false
	}
	m := leadingFlag.FindStringSubmatch(err.Error())
	return m != nil && cmd.Flags().Lookup(m[1]) != nil
}

// positionLine matches a line that starts with a source position the way
// compilers print it (file:line:col: or file:line:), for errors that are
// not a yamldoc.Error. The file needs an extension starting with a letter,
// so that an address (127.0.0.1:8080: connection refused) is not taken for
// one.
var positionLine = regexp.MustCompile(`^[^\s:]+\.[A-Za-z][A-Za-z0-9]*:[0-9]+(:[0-9]+)?: `)

// formatError renders err for stderr, one problem a line. A problem whose
// message starts with its position (file:line:col:) is printed as it is,
// so that editors and CI annotate it; any other gets the "drill: " prefix.
// Continuation lines of a problem are printed as they are. A usage error
// ends with a hint naming the command's --help.
func formatError(err error) string {
	var lines []string
	for _, e := range problems(err) {
		msg := e.Error()
		if !startsWithPosition(e, msg) {
			msg = "drill: " + msg
		}
		lines = append(lines, msg)
	}
	var ue *usageError
	if errors.As(err, &ue) {
		lines = append(lines, ue.hint())
	}
	return strings.Join(lines, "\n")
}

// problems splits err into the problems it lists: the parts of an
// errors.Join or a yamldoc.Errors (whose message is their messages one a
// line), looking through wrappers that add no text (exitcode.Wrap).
func problems(err error) []error {
	switch u := err.(type) {
	case interface{ Unwrap() []error }:
		parts := u.Unwrap()
		msgs := make([]string, len(parts))
		for i, p := range parts {
			msgs[i] = p.Error()
		}
		if len(parts) > 0 && strings.Join(msgs, "\n") == err.Error() {
			var out []error
			for _, p := range parts {
				out = append(out, problems(p)...)
			}
			return out
		}
	case interface{ Unwrap() error }:
		if inner := u.Unwrap(); inner != nil && inner.Error() == err.Error() {
			return problems(inner)
		}
	}
	return []error{err}
}

// startsWithPosition reports whether msg, the message of e, begins with a
// source position: that of the yamldoc.Error in e when it has one (the
// typed check), else one the positionLine pattern finds on its first line.
func startsWithPosition(e error, msg string) bool {
	var ye *yamldoc.Error
	if errors.As(e, &ye) && ye.File != "" && ye.Line > 0 {
		return strings.HasPrefix(msg, fmt.Sprintf("%s:%d:%d: ", ye.File, ye.Line, ye.Col))
	}
	first, _, _ := strings.Cut(msg, "\n")
	return positionLine.MatchString(first)
}

// markUsageErrors makes every argument check in the tree below cmd return
// usage errors, and gives each command that only groups subcommands a
// check of its own: `drill stack bogus` is an unknown command (exit 2),
// not the help of drill stack (exit 0).
func markUsageErrors(cmd *cobra.Command) {
	for _, c := range cmd.Commands() {
		markUsageErrors(c)
	}
	if cmd.HasSubCommands() && !cmd.Runnable() {
		cmd.Args = unknownSubcommand
		cmd.RunE = func(c *cobra.Command, _ []string) error { return c.Help() }
	}
	if check := cmd.Args; check != nil {
		cmd.Args = func(c *cobra.Command, args []string) error { return asUsage(c, check(c, args)) }
	}
}

// unknownSubcommand refuses any argument of a command that only groups
// subcommands, suggesting the nearest.
func unknownSubcommand(cmd *cobra.Command, args []string) error {
	if len(args) == 0 {
		return nil
	}
	err := fmt.Errorf("unknown command %q for %q", args[0], cmd.CommandPath())
	if cmd.SuggestionsMinimumDistance <= 0 {
		cmd.SuggestionsMinimumDistance = 2 // cobra's own default for its suggestions
	}
	if s := cmd.SuggestionsFor(args[0]); len(s) > 0 {
		err = fmt.Errorf("%w; did you mean %s?", err, strings.Join(s, " or "))
	}
	return err
}

// checkFlags runs cobra's required-flag and flag-group checks before the
// command does, so that their errors are usage errors.
func checkFlags(cmd *cobra.Command) error {
	if err := cmd.ValidateRequiredFlags(); err != nil {
		return asUsage(cmd, err)
	}
	return asUsage(cmd, cmd.ValidateFlagGroups())
}
