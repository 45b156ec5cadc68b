package chaosmesh

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/aiuptime/aiuptime/chaos"
	"github.com/aiuptime/aiuptime/stack/kubernetes"
)

// ListTimeout bounds the listing of one cluster's objects (doctor must
// not hang on an unreachable API server).
const ListTimeout = 10 * time.Second

// FindingWhat is the chaos.Finding.What of a leftover object.
const FindingWhat = "chaos-mesh-object"

// Leftover is one of the drill's Chaos Mesh objects found in a cluster.
type Leftover struct {
	Conn      kubernetes.Conn
	Kind      string
	Namespace string
	Name      string
	// Run and Record are its labels.
	Run, Record string
	Created     time.Time
	// Deleting says it has a deletion timestamp (a finalizer holds it).
	Deleting bool
}

// Finding is l as a `drill doctor` finding.
func (l Leftover) Finding() chaos.Finding {
	d := fmt.Sprintf("%s created %s by the drill (record %s) is still in the cluster", l.Kind, l.Created.UTC().Format(time.RFC3339), l.Record)
	if l.Deleting {
		d += ", deleting (a finalizer holds it)"
	}
	return chaos.Finding{What: FindingWhat, Where: l.Namespace + "/" + l.Name, Run: l.Run, Detail: d + ": `drill cleanup` deletes it"}
}

// ConnsOf are the clusters the journal records of Undo name (each once).
// Sealed or undecodable states are skipped: doctor reports those records
// itself.
func ConnsOf(recs []chaos.Record) []kubernetes.Conn {
	var out []kubernetes.Conn
	for _, r := range recs {
		var st State
		if r.Reverter != Undo || r.Sealed || json.Unmarshal(r.State, &st) != nil {
			continue
		}
		out = appendConn(out, st.Conn)
	}
	return out
}

func appendConn(cs []kubernetes.Conn, c kubernetes.Conn) []kubernetes.Conn {
	for _, x := range cs {
		if x == c {
			return cs
		}
	}
	return append(cs, c)
}

// FindLeftovers lists the drill's objects (LabelManagedBy=ManagedBy) in
// every namespace of each cluster. A kubeconfig that is gone is a cluster
// that is gone; a cluster that cannot be listed is an error naming it, and
// the others are still listed.
func FindLeftovers(ctx context.Context, conns []kubernetes.Conn) ([]Leftover, error) {
	var out []Leftover
	var errs []error
	seen := map[kubernetes.Conn]bool{}
	for _, conn := range conns {
		if seen[conn] {
			continue
		}
		seen[conn] = true
		if !conn.InCluster && conn.Kubeconfig != "" {
			if _, err := os.Stat(conn.Kubeconfig); errors.Is(err, fs.ErrNotExist) {
				continue
			}
		}
		c, err := NewClient(conn)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		lctx, cancel := context.WithTimeout(ctx, ListTimeout)
		us, err := c.List(lctx, metav1.NamespaceAll)
		cancel()
		if err != nil {
			errs = append(errs, fmt.Errorf("chaos mesh objects in the cluster of %s: %w", orDefault(conn.Kubeconfig), err))
		}
		for _, u := range us {
			l := u.GetLabels()
			out = append(out, Leftover{Conn: conn, Kind: u.GetKind(), Namespace: u.GetNamespace(), Name: u.GetName(),
				Run: l[LabelRun], Record: l[LabelRecord], Created: u.GetCreationTimestamp().Time, Deleting: u.GetDeletionTimestamp() != nil})
		}
	}
	return out, errors.Join(errs...)
}

func orDefault(kubeconfig string) string {
	if kubeconfig == "" {
		return "the default kubeconfig"
	}
	return kubeconfig
}

// Remove deletes the leftover (only while it still carries the drill's
// labels and its namespace still opts in to drills) and waits until it is
// gone, as the journaled undo does.
func (l Leftover) Remove(ctx context.Context) (Deleted, error) {
	c, err := NewClient(l.Conn)
	if err != nil {
		return Deleted{}, err
	}
	ns, err := c.cs.CoreV1().Namespaces().Get(ctx, l.Namespace, metav1.GetOptions{})
	if err != nil {
		return Deleted{}, fmt.Errorf("namespace %s: %w", l.Namespace, err)
	}
	if ns.Labels[kubernetes.LabelDrill] != kubernetes.LabelDrillEnabled {
		return Deleted{}, fmt.Errorf("%s %s/%s: namespace no longer carries %s=%s: left alone", l.Kind, l.Namespace, l.Name, kubernetes.LabelDrill, kubernetes.LabelDrillEnabled)
	}
	want := map[string]string{LabelManagedBy: ManagedBy, LabelRun: l.Run, LabelRecord: l.Record}
	return c.DeleteAndWait(ctx, l.Kind, l.Namespace, l.Name, want, DefaultFinalizerGrace)
}
