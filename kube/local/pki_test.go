package local

import (
	"crypto/tls"
	"crypto/x509"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"testing"
)

// TestPKIClientCertificate: a server with the apiserver certificate, asking
// for client certificates from the cluster CA, sees the admin's identity
// (CN and O=system:masters) through a client built from the kubeconfig.
func TestPKIClientCertificate(t *testing.T) {
	dir := t.TempDir()
	p, err := newPKI(filepath.Join(dir, pkiDirName))
	if err != nil {
		t.Fatal(err)
	}
	srvCert, err := tls.LoadX509KeyPair(p.path(serverCertFile), p.path(serverKeyFile))
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(p.caCert)
	var gotCN string
	var gotO []string
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c := r.TLS.PeerCertificates[0]
		gotCN, gotO = c.Subject.CommonName, c.Subject.Organization
	}))
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{srvCert}, ClientCAs: pool, ClientAuth: tls.RequireAndVerifyClientCert}
	srv.StartTLS()
	defer srv.Close()

	// The serving certificate names 127.0.0.1, as the kubeconfig's server does.
	kc := filepath.Join(dir, adminKubeconfig)
	if err := p.clientKubeconfig(kc, srv.URL, adminUser, mastersGroup); err != nil {
		t.Fatal(err)
	}
	client, err := AdminClient(kc)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := client.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if gotCN != adminUser || !slices.Equal(gotO, []string{mastersGroup}) {
		t.Errorf("server saw CN=%q O=%v; want CN=%q O=[%s]", gotCN, gotO, adminUser, mastersGroup)
	}
}
