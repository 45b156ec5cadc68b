package reports

// Samples are bounded reservoirs of per-request measurements.
type Samples struct{}
