package local

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"time"
)

// certValidity is how long the cluster's certificates are valid: a local
// test cluster lives for minutes or days, never a year.
const certValidity = 365 * 24 * time.Hour

// serviceCIDR is the cluster's service IP range; its first address is the
// kubernetes Service, which the serving certificate names.
const (
	serviceCIDR      = "10.96.0.0/16"
	kubernetesSvcIP  = "10.96.0.1"
	adminUser        = "aiuptime-admin"
	controllerUser   = "system:kube-controller-manager"
	schedulerUser    = "system:kube-scheduler"
	mastersGroup     = "system:masters"
	saIssuer         = "https://kubernetes.default.svc.cluster.local"
	pkiDirName       = "pki"
	caCertFile       = "ca.crt"
	caKeyFile        = "ca.key"
	serverCertFile   = "apiserver.crt"
	serverKeyFile    = "apiserver.key"
	saKeyFile        = "sa.key"
	saPubFile        = "sa.pub"
	adminKubeconfig  = "kubeconfig"
	kcmKubeconfig    = "kube-controller-manager.kubeconfig"
	schedKubeconfig  = "kube-scheduler.kubeconfig"
	kubeconfigSuffix = ".kubeconfig"
)

// pki holds the cluster's certificate authority; it signs the apiserver's
// serving certificate and the components' client certificates.
type pki struct {
	dir    string
	caCert *x509.Certificate
	caKey  crypto.Signer
	caPEM  []byte
}

// newPKI writes, under dir: a CA, the apiserver's serving certificate for
// 127.0.0.1/localhost and the kubernetes Service names, and the
// service-account signing key pair.
//
// Equivalent to: openssl req -x509 (CA), openssl req/x509 -CA (server),
// openssl ecparam -genkey (service accounts).
func newPKI(dir string) (*pki, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("create pki dir: %w", err)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("generate ca key: %w", err)
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          serial(),
		Subject:               pkix.Name{CommonName: "aiuptime-local-ca"},
		NotBefore:             now.Add(-time.Minute),
		NotAfter:              now.Add(certValidity),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		return nil, fmt.Errorf("create ca certificate: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("parse ca certificate: %w", err)
	}
	p := &pki{dir: dir, caCert: cert, caKey: key, caPEM: pemCert(der)}
	if err := p.writePair(caCertFile, caKeyFile, der, key); err != nil {
		return nil, err
	}
	// The apiserver's serving certificate.
	srv, srvKey, err := p.issue(x509.Certificate{
		Subject:     pkix.Name{CommonName: "kube-apiserver"},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		DNSNames: []string{"localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc",
			"kubernetes.default.svc.cluster.local"},
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback, net.ParseIP(kubernetesSvcIP)},
	})
	if err != nil {
		return nil, fmt.Errorf("apiserver certificate: %w", err)
	}
	if err := p.writePair(serverCertFile, serverKeyFile, srv, srvKey); err != nil {
		return nil, err
	}
	// The service-account token signing pair (apiserver signs and verifies,
	// the controller manager's token controller signs).
	sa, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("generate service-account key: %w", err)
	}
	pub, err := x509.MarshalPKIXPublicKey(sa.Public())
	if err != nil {
		return nil, fmt.Errorf("marshal service-account public key: %w", err)
	}
	if err := p.writeKey(saKeyFile, sa); err != nil {
		return nil, err
	}
	if err := writeFile(filepath.Join(dir, saPubFile), pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pub})); err != nil {
		return nil, err
	}
	return p, nil
}

// path returns the path of one of the PKI's files.
func (p *pki) path(name string) string { return filepath.Join(p.dir, name) }

// issue signs a certificate from tmpl with a fresh P-256 key.
func (p *pki) issue(tmpl x509.Certificate) ([]byte, crypto.Signer, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	now := time.Now()
	tmpl.SerialNumber = serial()
	tmpl.NotBefore = now.Add(-time.Minute)
	tmpl.NotAfter = now.Add(certValidity)
	tmpl.KeyUsage = x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment
	der, err := x509.CreateCertificate(rand.Reader, &tmpl, p.caCert, key.Public(), p.caKey)
	if err != nil {
		return nil, nil, err
	}
	return der, key, nil
}

// clientKubeconfig issues a client certificate for user (in groups) and
// writes a kubeconfig for server with it embedded to path.
//
// Equivalent to: kubectl config set-cluster/set-credentials --embed-certs.
func (p *pki) clientKubeconfig(path, server, user string, groups ...string) error {
	der, key, err := p.issue(x509.Certificate{
		Subject:     pkix.Name{CommonName: user, Organization: groups},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	})
	if err != nil {
		return fmt.Errorf("client certificate for %s: %w", user, err)
	}
	keyPEM, err := pemKey(key)
	if err != nil {
		return err
	}
	kc := Kubeconfig{
		APIVersion:     "v1",
		Kind:           "Config",
		CurrentContext: "aiuptime-local",
		Clusters: []NamedCluster{{Name: "aiuptime-local", Cluster: KubeCluster{
			Server: server, CertificateAuthorityData: p.caPEM}}},
		Users: []NamedUser{{Name: user, User: KubeUser{
			ClientCertificateData: pemCert(der), ClientKeyData: keyPEM}}},
		Contexts: []NamedContext{{Name: "aiuptime-local", Context: KubeContext{
			Cluster: "aiuptime-local", User: user}}},
	}
	b, err := json.MarshalIndent(kc, "", "  ")
	if err != nil {
		return fmt.Errorf("marshal kubeconfig: %w", err)
	}
	return writeFile(path, append(b, '\n'))
}

func (p *pki) writePair(certName, keyName string, der []byte, key crypto.Signer) error {
	if err := writeFile(p.path(certName), pemCert(der)); err != nil {
		return err
	}
	return p.writeKey(keyName, key)
}

func (p *pki) writeKey(name string, key crypto.Signer) error {
	b, err := pemKey(key)
	if err != nil {
		return err
	}
	return writeFile(p.path(name), b)
}

// Kubeconfig is the subset of a kubeconfig file (clientcmd's v1 Config)
// that the local cluster writes: one cluster, one user with an embedded
// client certificate, one context. It is written as JSON, which every
// kubeconfig reader accepts (YAML is a superset).
type Kubeconfig struct {
	APIVersion     string         `json:"apiVersion"`
	Kind           string         `json:"kind"`
	CurrentContext string         `json:"current-context"`
	Clusters       []NamedCluster `json:"clusters"`
	Users          []NamedUser    `json:"users"`
	Contexts       []NamedContext `json:"contexts"`
}

// NamedCluster is a kubeconfig cluster entry.
type NamedCluster struct {
	Name    string      `json:"name"`
	Cluster KubeCluster `json:"cluster"`
}

// KubeCluster is where the apiserver is and which CA signed its certificate.
type KubeCluster struct {
	Server                   string `json:"server"`
	CertificateAuthorityData []byte `json:"certificate-authority-data"`
}

// NamedUser is a kubeconfig user entry.
type NamedUser struct {
	Name string   `json:"name"`
	User KubeUser `json:"user"`
}

// KubeUser holds a client certificate and its key, PEM-encoded.
type KubeUser struct {
	ClientCertificateData []byte `json:"client-certificate-data"`
	ClientKeyData         []byte `json:"client-key-data"`
}

// NamedContext is a kubeconfig context entry.
type NamedContext struct {
	Name    string      `json:"name"`
	Context KubeContext `json:"context"`
}

// KubeContext pairs a cluster with a user.
type KubeContext struct {
	Cluster string `json:"cluster"`
	User    string `json:"user"`
}

// ReadKubeconfig reads a kubeconfig written by Up.
func ReadKubeconfig(path string) (*Kubeconfig, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read kubeconfig: %w", err)
	}
	var kc Kubeconfig
	if err := json.Unmarshal(b, &kc); err != nil {
		return nil, fmt.Errorf("parse kubeconfig %s: %w", path, err)
	}
	if len(kc.Clusters) != 1 || len(kc.Users) != 1 {
		return nil, fmt.Errorf("kubeconfig %s: want one cluster and one user, have %d and %d", path, len(kc.Clusters), len(kc.Users))
	}
	return &kc, nil
}

func serial() *big.Int {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 126))
	if err != nil {
		panic(err) // crypto/rand does not fail on Linux
	}
	return n
}

func pemCert(der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}

func pemKey(key crypto.Signer) ([]byte, error) {
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("marshal private key: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
}

// writeFile writes b to path, readable by its owner only (keys live here).
func writeFile(path string, b []byte) error {
	if err := os.WriteFile(path, b, 0o600); err != nil {
		return fmt.Errorf("write %s: %w", filepath.Base(path), err)
	}
	return nil
}
