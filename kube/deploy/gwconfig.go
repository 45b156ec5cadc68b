package deploy

import (
	"fmt"

	"github.com/goccy/go-yaml"
)

// The gateway's configuration in LiteLLM's format (fixtures/gateway/README.md),
// with the router settings of the containers provider's embedded stack.
type gwConfig struct {
	ModelList       []gwModel `yaml:"model_list"`
	RouterSettings  gwRouter  `yaml:"router_settings"`
	GeneralSettings gwGeneral `yaml:"general_settings"`
}

type gwModel struct {
	ModelName     string      `yaml:"model_name"`
	LiteLLMParams gwParams    `yaml:"litellm_params"`
	ModelInfo     gwModelInfo `yaml:"model_info"`
}

type gwParams struct {
	Model   string `yaml:"model"`
	APIBase string `yaml:"api_base"`
	APIKey  string `yaml:"api_key"`
	Weight  int    `yaml:"weight"`
}

type gwModelInfo struct {
	ID string `yaml:"id"`
}

type gwRouter struct {
	RoutingStrategy string `yaml:"routing_strategy"`
	NumRetries      int    `yaml:"num_retries"`
	AllowedFails    int    `yaml:"allowed_fails"`
	CooldownTime    int    `yaml:"cooldown_time"`
	Timeout         int    `yaml:"timeout"`
	StreamTimeout   int    `yaml:"stream_timeout"`
}

type gwGeneral struct {
	MasterKey    string `yaml:"master_key"`
	DatabasePath string `yaml:"database_path"`
}

// upstream is one model server as the gateway reaches it.
type upstream struct {
	id      string // model_info.id: the stack's service name (model-0, ...)
	apiBase string // http://<Service ClusterIP>:8000/v1
}

// renderGatewayConfig writes the gateway's config. The master key is not
// in it: the gateway reads it from the environment (os.environ/NAME), which
// the pod fills from the Secret, so the ConfigMap holds no secret.
func renderGatewayConfig(modelName string, ups []upstream) ([]byte, error) {
	cfg := gwConfig{
		RouterSettings: gwRouter{
			RoutingStrategy: "simple-shuffle",
			NumRetries:      2,
			AllowedFails:    3,
			CooldownTime:    5,
			// Below the probe's deadline, so that a partitioned replica is a
			// retry on the other one rather than a client timeout (as in
			// stack/containers).
			Timeout:       3,
			StreamTimeout: 2,
		},
		GeneralSettings: gwGeneral{MasterKey: "os.environ/" + gatewayKeyEnv, DatabasePath: gatewayDataMount + "/gateway.db"},
	}
	for _, u := range ups {
		cfg.ModelList = append(cfg.ModelList, gwModel{
			ModelName: modelName,
			// The model servers do not check a key; LiteLLM wants one.
			LiteLLMParams: gwParams{Model: "hosted_vllm/" + modelName, APIBase: u.apiBase, APIKey: "none", Weight: 1},
			ModelInfo:     gwModelInfo{ID: u.id},
		})
	}
	b, err := yaml.Marshal(cfg)
	if err != nil {
		return nil, fmt.Errorf("render gateway config: %w", err)
	}
	return b, nil
}
