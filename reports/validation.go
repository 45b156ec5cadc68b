package reports

import "time"

// BackupRef is a verified backup taken before an update.
type BackupRef struct {
	Dir      string    `json:"dir"`
	TakenAt  time.Time `json:"taken_at"`
	Files    int       `json:"files"`
	Bytes    int64     `json:"bytes"`
	Verified bool      `json:"verified"`
}

// Validation is the validation after an update: functional checks and a
// performance comparison against a baseline measured earlier in the run.
type Validation struct {
	Step   string `json:"step"`
	Passed bool   `json:"passed"`
}
