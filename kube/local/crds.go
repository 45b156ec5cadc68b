package local

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"github.com/goccy/go-yaml"
)

// ChaosMeshCRDsDir is the directory, next to the binaries, that
// `make kube-crds` (run by `make kube`) links to the Chaos Mesh CRDs that
// controller-gen generated from the pinned chaos-mesh/api module.
const ChaosMeshCRDsDir = "chaos-mesh-crds"

// ChaosMeshCRDs is how many CRDs controller-gen generates from the pinned
// chaos-mesh/api module (chaos-mesh.org: the chaos kinds, Schedule,
// Workflow, WorkflowNode, StatusCheck, ...).
const ChaosMeshCRDs = 23

// DefaultCRDTimeout bounds InstallCRDs when ctx has no earlier deadline.
const DefaultCRDTimeout = 2 * time.Minute

// FieldManager is the field manager of what this package applies.
const FieldManager = "aiuptime"

// ErrNoCRDs means a CRD dir holds no CRD YAML: run `make kube`.
var ErrNoCRDs = errors.New("no CRD YAML found: run `make kube`")

const crdPath = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions/"

// CRDFiles returns the CRD YAML files in dir (*.yaml, one CRD each, as
// controller-gen writes them), sorted, or an error wrapping ErrNoCRDs.
func CRDFiles(dir string) ([]string, error) {
	files, err := filepath.Glob(filepath.Join(dir, "*.yaml"))
	if err != nil {
		return nil, fmt.Errorf("crd dir %s: %w", dir, err)
	}
	if len(files) == 0 {
		return nil, fmt.Errorf("%w (in %s)", ErrNoCRDs, dir)
	}
	slices.Sort(files)
	return files, nil
}

// InstallCRDs applies every CRD in dir (see CRDFiles) to the apiserver of
// kubeconfig (one written by Up) with server-side apply, then waits until
// each is Established. It returns the CRDs' names, in file order.
// Applying again is a no-op, so InstallCRDs is idempotent.
//
// Equivalent to: kubectl apply --server-side --force-conflicts
// --field-manager=aiuptime -f dir, then kubectl wait
// --for=condition=Established crd/NAME for each. Server-side, because the
// largest Chaos Mesh CRD (WorkflowNode, 1.3 MB of YAML) is far too big for
// the last-applied annotation of a client-side apply (256 KiB).
func InstallCRDs(ctx context.Context, kubeconfig, dir string) ([]string, error) {
	files, err := CRDFiles(dir)
	if err != nil {
		return nil, err
	}
	kc, err := ReadKubeconfig(kubeconfig)
	if err != nil {
		return nil, err
	}
	client, err := AdminClient(kubeconfig)
	if err != nil {
		return nil, err
	}
	defer client.CloseIdleConnections()
	ctx, cancel := context.WithTimeout(ctx, DefaultCRDTimeout)
	defer cancel()
	server := kc.Clusters[0].Cluster.Server
	names, err := applyCRDs(ctx, client, server, files)
	if err != nil {
		return names, err
	}
	pending := slices.Clone(names)
	deadline, _ := ctx.Deadline()
	err = poll(ctx, time.Until(deadline), func() error {
		var err error
		pending, err = notEstablished(ctx, client, server, pending)
		return err
	})
	if err != nil {
		return names, fmt.Errorf("wait for %d CRDs to be established: %w", len(pending), err)
	}
	return names, nil
}

// applyWorkers is how many CRDs are applied at once: the apiserver spends
// its time validating and converting the large schemas, in parallel.
const applyWorkers = 4

// applyCRDs applies files, applyWorkers at a time, and returns the names of
// those applied (in file order) and the first error.
func applyCRDs(ctx context.Context, client *http.Client, server string, files []string) ([]string, error) {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	applied := make([]string, len(files))
	sem := make(chan struct{}, applyWorkers)
	var wg sync.WaitGroup
	for i, f := range files {
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
		}
		if ctx.Err() != nil {
			break
		}
		wg.Go(func() {
			defer func() { <-sem }()
			name, err := applyCRD(ctx, client, server, f)
			if err != nil {
				cancel(err)
				return
			}
			applied[i] = name
		})
	}
	wg.Wait()
	names := slices.DeleteFunc(applied, func(n string) bool { return n == "" })
	if err := context.Cause(ctx); err != nil {
		return names, err
	}
	return names, nil
}

// crdHeader is what InstallCRDs reads of a CRD YAML before sending it.
type crdHeader struct {
	APIVersion string `yaml:"apiVersion"`
	Kind       string `yaml:"kind"`
	Metadata   struct {
		Name string `yaml:"name"`
	} `yaml:"metadata"`
}

// applyCRD server-side applies the CRD in file and returns its name.
func applyCRD(ctx context.Context, client *http.Client, server, file string) (string, error) {
	body, err := os.ReadFile(file)
	if err != nil {
		return "", fmt.Errorf("read crd: %w", err)
	}
	var h crdHeader
	if err := yaml.Unmarshal(body, &h); err != nil {
		return "", fmt.Errorf("parse crd %s: %w", file, err)
	}
	if h.APIVersion != "apiextensions.k8s.io/v1" || h.Kind != "CustomResourceDefinition" || h.Metadata.Name == "" {
		return "", fmt.Errorf("crd %s: want an apiextensions.k8s.io/v1 CustomResourceDefinition with a name, have %s %s %q",
			file, h.APIVersion, h.Kind, h.Metadata.Name)
	}
	u := server + crdPath + url.PathEscape(h.Metadata.Name) + "?" +
		url.Values{"fieldManager": {FieldManager}, "force": {"true"}}.Encode()
	req, err := http.NewRequestWithContext(ctx, http.MethodPatch, u, bytes.NewReader(body))
	if err != nil {
		return "", err
	}
	req.Header.Set("Content-Type", "application/apply-patch+yaml")
	req.Header.Set("Accept", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		return "", fmt.Errorf("apply crd %s: %w", h.Metadata.Name, err)
	}
	defer resp.Body.Close()
	if err := apiError(resp); err != nil {
		return "", fmt.Errorf("apply crd %s (%d bytes): %w", h.Metadata.Name, len(body), err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	return h.Metadata.Name, nil
}

// notEstablished returns those of names whose CRD has no Established=True
// condition yet (or, with it, NamesAccepted=False).
func notEstablished(ctx context.Context, client *http.Client, server string, names []string) ([]string, error) {
	var left []string
	var reason error
	for _, name := range names {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, server+crdPath+url.PathEscape(name), nil)
		if err != nil {
			return names, err
		}
		req.Header.Set("Accept", "application/json")
		resp, err := client.Do(req)
		if err != nil {
			return names, err
		}
		var crd struct {
			Status struct {
				Conditions []struct {
					Type    string `json:"type"`
					Status  string `json:"status"`
					Message string `json:"message"`
				} `json:"conditions"`
			} `json:"status"`
		}
		err = apiError(resp)
		if err == nil {
			err = json.NewDecoder(resp.Body).Decode(&crd)
		}
		resp.Body.Close()
		if err != nil {
			return names, fmt.Errorf("get crd %s: %w", name, err)
		}
		established := false
		for _, c := range crd.Status.Conditions {
			switch {
			case c.Type == "Established" && c.Status == "True":
				established = true
			case c.Type == "NamesAccepted" && c.Status == "False":
				reason = fmt.Errorf("crd %s: names not accepted: %s", name, c.Message)
			}
		}
		if !established {
			left = append(left, name)
		}
	}
	if len(left) == 0 {
		return nil, nil
	}
	if reason == nil {
		reason = fmt.Errorf("not established: %v", left)
	}
	return left, reason
}

// apiError returns nil for a 2xx answer, else an error with the status and
// the apiserver's message (the Status object's, or the start of the body).
func apiError(resp *http.Response) error {
	if resp.StatusCode/100 == 2 {
		return nil
	}
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	var st struct {
		Message string `json:"message"`
	}
	if json.Unmarshal(b, &st) == nil && st.Message != "" {
		return fmt.Errorf("%s: %s", resp.Status, st.Message)
	}
	return fmt.Errorf("%s: %s", resp.Status, b)
}
