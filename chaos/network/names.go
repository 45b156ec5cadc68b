package network

import (
	"errors"
	"fmt"
	"hash/fnv"
	"strings"

	"github.com/vishvananda/netlink"
)

// What a network fault adds is named after its journal record's id: two
// drills (or two faults of one drill) never share a qdisc handle, an
// nftables table or a toxic, so a revert removes only its own, and a
// replayed record may remove nothing else (its Check compares the names).

// Qdisc handle majors of our root qdiscs: below the kernel's automatic
// handles (0x8000 and up), above the small numbers people type.
const (
	qdiscMajorMin  = 0x1000
	qdiscMajorSpan = 0x7000
)

// QdiscHandleFor is the handle of the root qdisc a fault journaled as id
// adds: major 0x1000..0x7fff from a hash of the id, minor 0.
func QdiscHandleFor(id string) uint32 {
	h := fnv.New32a()
	h.Write([]byte(id))
	return netlink.MakeHandle(uint16(qdiscMajorMin+h.Sum32()%qdiscMajorSpan), 0)
}

// TableFor is the nftables table (family inet) of a fault journaled as id:
// TablePrefix and the id's random tail.
func TableFor(id string) string {
	tail := id
	if len(tail) > 12 {
		tail = tail[len(tail)-12:]
	}
	return TablePrefix + strings.ReplaceAll(tail, "-", "")
}

// ToxicFor is the toxic a fault journaled as id adds to a Toxiproxy proxy.
func ToxicFor(id string) string { return ToxicPrefix + id }

// ErrBusy refuses a fault whose target already carries one of its kind
// that it could not tell apart on revert (a link already down).
var ErrBusy = errors.New("target busy with another fault")

func handleText(h uint32) string { return fmt.Sprintf("%x:", h>>16) }
