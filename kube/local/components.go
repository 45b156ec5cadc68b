package local

import (
	"context"
	"fmt"
	"net/http"
	"path/filepath"
	"strconv"
	"time"
)

// componentSpec is how one component is started and checked.
type componentSpec struct {
	name   string
	args   []string
	ports  map[string]int
	health string
}

// writeKubeconfigs writes the admin, controller-manager and scheduler
// kubeconfigs, each with its own client certificate.
func (c *Cluster) writeKubeconfigs(pk *pki) error {
	dir := c.Dir
	for _, k := range []struct{ file, user, group string }{
		{adminKubeconfig, adminUser, mastersGroup},
		{kcmKubeconfig, controllerUser, ""},
		{schedKubeconfig, schedulerUser, ""},
	} {
		var groups []string
		if k.group != "" {
			groups = []string{k.group}
		}
		if err := pk.clientKubeconfig(filepath.Join(dir, k.file), c.Server, k.user, groups...); err != nil {
			return err
		}
	}
	return nil
}

// componentSpecs are the components' command lines, in start order, on
// ports (etcd client and peer, apiserver, controller manager, scheduler,
// kwok), with the binaries' directory binDir.
func (c *Cluster) componentSpecs(binDir string, pk *pki, ports []int, realNode bool) []componentSpec {
	dir := c.Dir
	etcdClient, etcdPeer, apiPort, kcmPort, schedPort, kwokPort := ports[0], ports[1], ports[2], ports[3], ports[4], ports[5]
	local := func(p int) string { return "127.0.0.1:" + strconv.Itoa(p) }
	etcdURL := "http://" + local(etcdClient)
	peerURL := "http://" + local(etcdPeer)
	specs := []componentSpec{
		{Etcd, []string{
			"--name=default",
			"--data-dir=" + filepath.Join(dir, "etcd"),
			"--listen-client-urls=" + etcdURL, "--advertise-client-urls=" + etcdURL,
			"--listen-peer-urls=" + peerURL, "--initial-advertise-peer-urls=" + peerURL,
			"--initial-cluster=default=" + peerURL,
			"--unsafe-no-fsync=true", // a throwaway test cluster: no fsync waits on a busy disk
			"--log-level=warn",
		}, map[string]int{"client": etcdClient, "peer": etcdPeer}, etcdURL + "/health"},
		{APIServer, []string{
			"--etcd-servers=" + etcdURL,
			"--bind-address=127.0.0.1", "--secure-port=" + strconv.Itoa(apiPort),
			"--cert-dir=" + filepath.Join(dir, "apiserver"),
			"--tls-cert-file=" + pk.path(serverCertFile), "--tls-private-key-file=" + pk.path(serverKeyFile),
			"--client-ca-file=" + pk.path(caCertFile),
			"--service-account-issuer=" + saIssuer,
			"--service-account-key-file=" + pk.path(saPubFile),
			"--service-account-signing-key-file=" + pk.path(saKeyFile),
			"--service-cluster-ip-range=" + serviceCIDR,
			"--authorization-mode=Node,RBAC",
			"--allow-privileged=true",
		}, map[string]int{"secure": apiPort}, c.Server + "/readyz"},
		{ControllerManager, []string{
			"--kubeconfig=" + filepath.Join(dir, kcmKubeconfig),
			"--bind-address=127.0.0.1", "--secure-port=" + strconv.Itoa(kcmPort),
			"--cert-dir=" + filepath.Join(dir, "kube-controller-manager"),
			"--leader-elect=false",
			"--use-service-account-credentials=true",
			"--root-ca-file=" + pk.path(caCertFile),
			"--service-account-private-key-file=" + pk.path(saKeyFile),
			"--cluster-signing-cert-file=" + pk.path(caCertFile), "--cluster-signing-key-file=" + pk.path(caKeyFile),
			// Not the default /usr/libexec/kubernetes/..., which it creates.
			"--flex-volume-plugin-dir=" + filepath.Join(dir, "kube-controller-manager", "volume-plugins"),
		}, map[string]int{"secure": kcmPort}, "https://" + local(kcmPort) + "/healthz"},
		{Scheduler, []string{
			"--kubeconfig=" + filepath.Join(dir, schedKubeconfig),
			"--bind-address=127.0.0.1", "--secure-port=" + strconv.Itoa(schedPort),
			"--cert-dir=" + filepath.Join(dir, "kube-scheduler"),
			"--leader-elect=false",
		}, map[string]int{"secure": schedPort}, "https://" + local(schedPort) + "/healthz"},
		{Kwok, []string{
			"--kubeconfig=" + c.Kubeconfig,
			"--config=" + filepath.Join(binDir, StagesFile),
			"--manage-all-nodes=false",
			"--manage-nodes-with-annotation-selector=" + FakeNodeAnnotation,
			"--server-address=" + local(kwokPort),
			"--node-lease-duration-seconds=40",
		}, map[string]int{"server": kwokPort}, "http://" + local(kwokPort) + "/healthz"},
	}
	if realNode {
		// The apiserver dials the real kubelet (logs, exec, port-forward)
		// at the node IP it listens on, verifies its serving certificate
		// with the cluster CA, and presents a client certificate the
		// kubelet's webhook authorization allows (system:masters).
		specs[1].args = append(specs[1].args,
			"--kubelet-preferred-address-types=InternalIP,Hostname",
			"--kubelet-certificate-authority="+pk.path(caCertFile),
			"--kubelet-client-certificate="+pk.path(kubeletClientCertFile),
			"--kubelet-client-key="+pk.path(kubeletClientKeyFile))
	}
	return specs
}

// waitDefaultServiceAccount waits for the default ServiceAccount.
func (c *Cluster) waitDefaultServiceAccount(ctx context.Context, client *http.Client) error {
	// The controller manager answers /healthz seconds before its
	// controllers run; until the service-account controller made the
	// default ServiceAccount, pods are refused (and nodes keep their
	// not-ready taint). kind waits on the same condition.
	sa := c.Server + "/api/v1/namespaces/default/serviceaccounts/default"
	deadline, _ := ctx.Deadline()
	if err := poll(ctx, time.Until(deadline), func() error { return getOK(ctx, client, sa) }); err != nil {
		return fmt.Errorf("default service account: %w", err)
	}
	return nil
}
