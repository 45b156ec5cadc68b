package deploy

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/aiuptime/aiuptime/internal/gwconfig"

	"github.com/goccy/go-yaml"
)

// TestModelFiles: the generated model is what the model server verifies
// (every manifest entry's size and sha256), and a pure function of its
// name, version and size.
func TestModelFiles(t *testing.T) {
	for _, tc := range []struct {
		name, version string
		size          int64
	}{
		{"aiuptime-tiny", "1.0.0", DefaultModelSize},
		{"aiuptime-tiny", "1.0.1", DefaultModelSize},
		{"other", "1.0.0", 1},
		{"aiuptime-tiny", "1.0.0", MaxModelSize},
	} {
		t.Run(tc.name+"-"+tc.version, func(t *testing.T) {
			files, digest, err := modelFiles(tc.name, tc.version, tc.size)
			if err != nil {
				t.Fatal(err)
			}
			var m manifest
			if err := json.Unmarshal(files[modelManifestFile], &m); err != nil {
				t.Fatal(err)
			}
			if m.Name != tc.name || m.Version != tc.version || len(m.Files) != 2 {
				t.Fatalf("manifest %+v", m)
			}
			for _, f := range m.Files {
				b, ok := files[f.Path]
				sum := sha256.Sum256(b)
				if !ok || int64(len(b)) != f.Size || hex.EncodeToString(sum[:]) != f.SHA256 {
					t.Errorf("%s: in files %t, size %d (manifest %d), sha256 matches %t", f.Path, ok, len(b), f.Size, hex.EncodeToString(sum[:]) == f.SHA256)
				}
			}
			if int64(len(files[modelShardFile])) != tc.size {
				t.Errorf("weights %d bytes, want %d", len(files[modelShardFile]), tc.size)
			}
			again, digest2, _ := modelFiles(tc.name, tc.version, tc.size)
			if digest2 != digest || !bytes.Equal(again[modelShardFile], files[modelShardFile]) {
				t.Error("a second generation differs")
			}
			var total int
			for _, b := range files {
				total += len(b)
			}
			if total > 1<<20-64<<10 {
				t.Errorf("model files %d bytes: too close to a ConfigMap's 1 MiB", total)
			}
		})
	}
	_, d1, _ := modelFiles("aiuptime-tiny", "1.0.0", DefaultModelSize)
	_, d2, _ := modelFiles("aiuptime-tiny", "1.0.1", DefaultModelSize)
	if d1 == d2 {
		t.Error("versions 1.0.0 and 1.0.1 have one digest")
	}
}

// TestGatewayConfig: the model list points at the upstreams and the master
// key comes from the environment.
func TestGatewayConfig(t *testing.T) {
	ups := []gwconfig.Upstream{{ID: "model-0", APIBase: "http://10.0.0.10:8000/v1"}, {ID: "model-1", APIBase: "http://10.0.0.11:8000/v1"}}
	b, err := renderGatewayConfig("aiuptime-tiny", ups)
	if err != nil {
		t.Fatal(err)
	}
	var cfg struct {
		ModelList []struct {
			ModelName     string `yaml:"model_name"`
			LiteLLMParams struct {
				Model   string `yaml:"model"`
				APIBase string `yaml:"api_base"`
				APIKey  string `yaml:"api_key"`
				Weight  int    `yaml:"weight"`
			} `yaml:"litellm_params"`
			ModelInfo struct {
				ID string `yaml:"id"`
			} `yaml:"model_info"`
		} `yaml:"model_list"`
		RouterSettings  map[string]any `yaml:"router_settings"`
		GeneralSettings struct {
			MasterKey    string `yaml:"master_key"`
			DatabasePath string `yaml:"database_path"`
		} `yaml:"general_settings"`
	}
	if err := yaml.UnmarshalWithOptions(b, &cfg, yaml.Strict()); err != nil {
		t.Fatal(err)
	}
	if len(cfg.ModelList) != 2 || cfg.GeneralSettings.MasterKey != "os.environ/LITELLM_MASTER_KEY" {
		t.Fatalf("config:\n%s", b)
	}
	for i, m := range cfg.ModelList {
		if m.ModelName != "aiuptime-tiny" || m.LiteLLMParams.Model != "hosted_vllm/aiuptime-tiny" ||
			m.LiteLLMParams.APIBase != ups[i].APIBase || m.ModelInfo.ID != ups[i].ID {
			t.Errorf("model %d: %+v", i, m)
		}
	}
}

// TestOptions: bad option values are refused with the option named.
func TestOptions(t *testing.T) {
	for name, tc := range map[string]struct {
		opt  Option
		want string
	}{
		"namespace":  {WithNamespace("Not_OK"), `namespace "Not_OK"`},
		"model name": {WithModelName(""), "empty model name"},
		"model size": {WithModelSize(MaxModelSize + 1), "model size"},
		"wait":       {WithWait(-time.Second), "wait"},
		"api key":    {WithAPIKey("sk-1\n"), "api key"},
		"logger":     {WithLogger(nil), "nil logger"},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := newOptions([]Option{tc.opt})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v, want it to mention %q", err, tc.want)
			}
		})
	}
}
