package network

import (
	"context"
	"errors"
	"io/fs"
	"net"
	"net/url"
	"time"

	"golang.org/x/sys/unix"

	"github.com/aiuptime/aiuptime/chaos"
	"github.com/aiuptime/aiuptime/internal/procfs"
	"github.com/aiuptime/aiuptime/stack"
)

// Checks of the network faults' journaled state, run before a replay acts
// (chaos.Checker): the namespace is one of the run's containers', and the
// qdisc, table or toxic to remove is the one named after the record.

// check proves the target namespace is the run's: the namespace of the
// main process of a container carrying the record's labels (by pid and
// start time), or for a persistent namespace path, one of theirs by
// identity. A namespace that no longer exists took the fault with it.
func (t Target) check(ctx context.Context, sc chaos.Scope) error {
	if t.PID > 0 {
		if t.NetNS != "" && t.NetNS != procfs.NSPath(t.PID, "net") {
			return stack.Untrusted("netns %q is not the one of pid %d", t.NetNS, t.PID)
		}
		if !procfs.Alive(t.PID, t.PIDStart) {
			return chaos.ErrGone
		}
		return sc.OwnsProcess(ctx, t.PID, t.PIDStart)
	}
	if t.NetNS == "" {
		return stack.Untrusted("network target %s names neither a pid nor a namespace", t.Service)
	}
	id, err := procfs.NamespaceOf(t.NetNS)
	if errors.Is(err, fs.ErrNotExist) {
		return chaos.ErrGone
	}
	if err != nil {
		return stack.Untrusted("netns %s: %v", t.NetNS, err)
	}
	return sc.OwnsNamespace(ctx, id)
}

// Check implements chaos.Checker: the record removes only the root qdisc
// with its own handle, in the run's namespace.
func (st qdiscState) Check(ctx context.Context, sc chaos.Scope) error {
	if want := QdiscHandleFor(sc.RecordID); st.Handle != want {
		return stack.Untrusted("qdisc handle %s is not the record's own (%s)", handleText(st.Handle), handleText(want))
	}
	return st.Target.check(ctx, sc)
}

// Check implements chaos.Checker: the record deletes only its own table,
// in the run's namespace.
func (st nftState) Check(ctx context.Context, sc chaos.Scope) error {
	if want := TableFor(sc.RecordID); st.Table != want {
		return stack.Untrusted("nftables table %q is not the record's own (%s)", st.Table, want)
	}
	return st.Target.check(ctx, sc)
}

// Check implements chaos.Checker: the links set back up are in the run's
// namespace.
func (st linkDownState) Check(ctx context.Context, sc chaos.Scope) error {
	return st.Target.check(ctx, sc)
}

// Check implements chaos.Checker: the record removes only its own toxic,
// from a Toxiproxy a container of the run publishes.
func (st toxicState) Check(ctx context.Context, sc chaos.Scope) error {
	if want := ToxicFor(sc.RecordID); st.Toxic != want {
		return stack.Untrusted("toxic %q is not the record's own (%s)", st.Toxic, want)
	}
	if st.Proxy == "" {
		return stack.Untrusted("toxic %s names no proxy", st.Toxic)
	}
	u, err := url.Parse(st.APIURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Port() == "" {
		return stack.Untrusted("toxiproxy API %q is no http URL with a port", st.APIURL)
	}
	host := u.Hostname()
	if host == "localhost" {
		host = "127.0.0.1"
	}
	addr := net.JoinHostPort(host, u.Port())
	if refused(ctx, addr) {
		return chaos.ErrGone // nothing listens: the proxy, and its toxics, are gone
	}
	return sc.OwnsEndpoint(ctx, addr)
}

// refused reports whether a TCP connection to addr is refused (nothing
// listens there).
func refused(ctx context.Context, addr string) bool {
	d := net.Dialer{Timeout: 2 * time.Second}
	c, err := d.DialContext(ctx, "tcp", addr)
	if err == nil {
		c.Close()
		return false
	}
	return errors.Is(err, unix.ECONNREFUSED)
}
