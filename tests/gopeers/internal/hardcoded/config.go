// Package hardcoded is a Go port of the behaviour of Turing's "hardcoded"
// example experiment engine (engines/experiment/examples/plugins/hardcoded),
// written against the engines/experiment module version the Go proxy serves.
// See the README in the module root for why it is a port and where it differs.
package hardcoded

import (
	"encoding/json"

	"github.com/caraml-dev/turing/engines/experiment/manager"
	"github.com/caraml-dev/turing/engines/experiment/pkg/request"
)

// TreatmentConfig is one variant's share of traffic and the treatment config
// returned for it. Traffic is a float32, as in Turing: shares are computed in
// float32 arithmetic.
type TreatmentConfig struct {
	Traffic float32         `json:"traffic"`
	Data    json.RawMessage `json:"treatment_configuration"`
}

// SegmenterConfig says where the unit value of a request is read from.
type SegmenterConfig struct {
	Name            string              `json:"name"`
	SegmenterSource request.FieldSource `json:"source"`
	SegmenterValue  string              `json:"value"`
}

// Experiment is a manager.Experiment plus the runner-side settings.
type Experiment struct {
	manager.Experiment
	SegmentationConfig SegmenterConfig            `json:"segmentation_configuration"`
	VariantsConfig     map[string]TreatmentConfig `json:"variants_configuration"`
}

// ManagerConfig is the experiment manager's (engine) configuration.
type ManagerConfig struct {
	Engine      manager.Engine                `json:"engine"`
	Experiments []Experiment                  `json:"experiments"`
	Variables   map[string][]manager.Variable `json:"variables"`
}

// RunnerConfig is what the manager's GetExperimentRunnerConfig produces and
// the runner's Configure consumes.
type RunnerConfig struct {
	Experiments []Experiment `json:"experiments"`
}
