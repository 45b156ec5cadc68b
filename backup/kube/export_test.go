package kube

import "context"

// StartHelperForTest journals and creates a helper pod for claim and
// returns its name without waiting or deleting it: what a crash between
// the two leaves behind.
func (k *Kube) StartHelperForTest(ctx context.Context, claim string) (string, error) {
	_, name, err := k.startHelper(ctx, claim, true)
	return name, err
}
