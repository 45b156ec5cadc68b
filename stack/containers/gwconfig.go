package containers

// Gateway defaults written into the generated config.
const (
	gatewayDataMount = "/data"
	gatewayDBPath    = gatewayDataMount + "/gateway.db"
)
