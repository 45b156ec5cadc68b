package deploy

import "github.com/aiuptime/aiuptime/internal/gwconfig"

// renderGatewayConfig writes the gateway's config. The master key is not
// in it: the gateway reads it from the environment (os.environ/NAME), which
// the pod fills from the Secret, so the ConfigMap holds no secret.
func renderGatewayConfig(modelName string, ups []gwconfig.Upstream) ([]byte, error) {
	return gwconfig.Render(modelName, "os.environ/"+gatewayKeyEnv, "", gatewayDataMount+"/gateway.db", ups)
}
