package deploy

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
)

// Model files, in the layout the model server's gen-model writes and its
// engine verifies (fixtures/modelserver/README.md): config.json, one
// safetensors-named shard, and manifest.json holding the size and sha256
// of every other file.
const (
	modelConfigFile   = "config.json"
	modelManifestFile = "manifest.json"
	modelShardFile    = "model-00001-of-00001.safetensors"
	// modelMaxLen is the context length written into config.json (the
	// fixture's default).
	modelMaxLen = 4096
)

type modelConfig struct {
	Name          string   `json:"name"`
	Version       string   `json:"version"`
	MaxModelLen   int      `json:"max_model_len"`
	ModelType     string   `json:"model_type"`
	Architectures []string `json:"architectures"`
}

type manifestFile struct {
	Path   string `json:"path"`
	Size   int64  `json:"size"`
	SHA256 string `json:"sha256"`
}

type manifest struct {
	Name    string         `json:"name"`
	Version string         `json:"version"`
	Files   []manifestFile `json:"files"`
}

// modelFiles generates the model directory's files. Unlike gen-model's
// random weights, the weights are a pure function of (name, version,
// size): every pod of every Deployment, and every later Deploy, serves
// byte-identical weights, so the golden prompt gets the same answer from
// each replica and after each pod replacement. It returns the files and
// the model digest ("sha256:" of manifest.json, what /version reports).
func modelFiles(name, version string, size int64) (map[string][]byte, string, error) {
	cfg, err := json.MarshalIndent(modelConfig{
		Name: name, Version: version, MaxModelLen: modelMaxLen,
		ModelType: "aiuptime-sim", Architectures: []string{"AiuptimeSimForCausalLM"},
	}, "", "  ")
	if err != nil {
		return nil, "", fmt.Errorf("model config: %w", err)
	}
	cfg = append(cfg, '\n')
	seed := sha256.Sum256(fmt.Appendf(nil, "aiuptime model weights\x00%s\x00%s\x00%d", name, version, size))
	weights := make([]byte, size)
	if _, err := rand.NewChaCha8(seed).Read(weights); err != nil {
		return nil, "", fmt.Errorf("model weights: %w", err)
	}
	m := manifest{Name: name, Version: version, Files: []manifestFile{entry(modelConfigFile, cfg), entry(modelShardFile, weights)}}
	mb, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return nil, "", fmt.Errorf("model manifest: %w", err)
	}
	mb = append(mb, '\n')
	sum := sha256.Sum256(mb)
	files := map[string][]byte{modelConfigFile: cfg, modelShardFile: weights, modelManifestFile: mb}
	return files, "sha256:" + hex.EncodeToString(sum[:]), nil
}

func entry(path string, b []byte) manifestFile {
	sum := sha256.Sum256(b)
	return manifestFile{Path: path, Size: int64(len(b)), SHA256: hex.EncodeToString(sum[:])}
}

// ModelHostPath is where slot's model files live on the host with
// WithModelHostDir.
func ModelHostPath(dir string, slot int) string {
	return filepath.Join(dir, ModelDeployment(slot), "models")
}

// writeModelDir writes slot's model files under the host dir (nothing
// without WithModelHostDir). Files already there are rewritten, so a
// Deploy puts back a model a drill left corrupt.
func writeModelDir(o *options, slot int, files map[string][]byte) error {
	if o.modelHostDir == "" {
		return nil
	}
	dir := ModelHostPath(o.modelHostDir, slot)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("model dir: %w", err)
	}
	for name, b := range files {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			return fmt.Errorf("model dir: %w", err)
		}
	}
	return nil
}
