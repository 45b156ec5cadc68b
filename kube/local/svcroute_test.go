package local

import (
	"net/netip"
	"testing"
)

// TestServiceRouted: only kube-proxy's rule that sends the ClusterIP and
// port to a Service chain counts; a Service without endpoints (REJECT), an
// other port, an other address or an other chain does not.
func TestServiceRouted(t *testing.T) {
	const save = `*nat
:KUBE-SERVICES - [0:0]
-A KUBE-SERVICES -d 10.96.0.1/32 -p tcp -m comment --comment "default/kubernetes:https cluster IP" -m tcp --dport 443 -j KUBE-SVC-NPX46M4PTMTKRN6Y
-A KUBE-SERVICES -d 10.96.32.180/32 -p tcp -m comment --comment "aiuptime/aiuptime-gateway:http cluster IP" -m tcp --dport 4000 -j KUBE-SVC-GWGWGWGWGWGWGWGW
-A KUBE-SERVICES -d 10.96.7.7/32 -p tcp -m comment --comment "x/y:http has no endpoints" -m tcp --dport 8000 -j REJECT
-A KUBE-NODEPORTS -d 10.96.9.9/32 -p tcp -m tcp --dport 8000 -j KUBE-SVC-NODEPORTONLY
-A KUBE-SERVICES -d fd00::10/128 -p tcp -m tcp --dport 8000 -j KUBE-SVC-SIX
COMMIT
`
	for _, tc := range []struct {
		ip   string
		port int
		want bool
	}{
		{"10.96.32.180", 4000, true},
		{"10.96.0.1", 443, true},
		{"fd00::10", 8000, true},
		{"10.96.32.180", 8000, false}, // other port
		{"10.96.32.18", 4000, false},  // other address
		{"10.96.7.7", 8000, false},    // no endpoints: REJECT
		{"10.96.9.9", 8000, false},    // not KUBE-SERVICES
	} {
		if got := serviceRouted([]byte(save), netip.MustParseAddr(tc.ip), tc.port); got != tc.want {
			t.Errorf("serviceRouted(%s:%d) = %v; want %v", tc.ip, tc.port, got, tc.want)
		}
	}
}
