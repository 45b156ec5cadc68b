package stack

// Mover is a provider whose services' URLs may change while a drill runs,
// so probes of one service re-read its URL through Stack.Service: a pod
// replaced by its Deployment (every Cluster moves), a container whose
// published port Docker picks again each time it starts (an attached
// compose project publishing "127.0.0.1::PORT").
type Mover interface {
	// AddressesMove reports whether service URLs may change.
	AddressesMove() bool
}

// AddressesMove reports whether st's service URLs may change while it runs
// (a Cluster, or a Mover that says so).
func AddressesMove(st Stack) bool {
	if _, ok := st.(Cluster); ok {
		return true
	}
	m, ok := st.(Mover)
	return ok && m.AddressesMove()
}
