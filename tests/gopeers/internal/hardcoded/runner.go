package hardcoded

import (
	"encoding/json"
	"errors"
	"hash/fnv"
	"net/http"
	"sort"

	"github.com/caraml-dev/turing/engines/experiment/runner"
)

// ErrNoExperiment is returned when no experiment yields a unit value.
var ErrNoExperiment = errors.New("no experiment configured for the unit")

// ExperimentRunner assigns a request to a variant of the first experiment for
// which the request carries a unit value.
type ExperimentRunner struct {
	experiments      []Experiment
	sortedTreatments map[string][]string
}

// Configure reads a RunnerConfig and orders each experiment's variants by
// traffic, largest first. Turing's example breaks ties in map order, i.e. at
// random; this port breaks them by variant name.
func (e *ExperimentRunner) Configure(cfg json.RawMessage) error {
	var config RunnerConfig
	if err := json.Unmarshal(cfg, &config); err != nil {
		return err
	}
	e.experiments = config.Experiments
	e.sortedTreatments = make(map[string][]string)
	for _, exp := range e.experiments {
		variants := make([]string, 0, len(exp.VariantsConfig))
		for name := range exp.VariantsConfig {
			variants = append(variants, name)
		}
		sort.Strings(variants)
		sort.SliceStable(variants, func(i, j int) bool {
			return exp.VariantsConfig[variants[i]].Traffic > exp.VariantsConfig[variants[j]].Traffic
		})
		e.sortedTreatments[exp.ID] = variants
	}
	return nil
}

// Bucket is FNV-1a (32 bit) of the unit value, modulo 10000.
func Bucket(unit string) uint32 {
	h := fnv.New32a()
	_, _ = h.Write([]byte(unit))
	return h.Sum32() % 10000
}

// GetTreatmentForRequest walks the experiments in order; the first one whose
// unit value is found picks the first variant whose cumulative share
// (each share uint32(float32 traffic * 10000)) reaches the unit's bucket.
// An experiment whose shares never reach the bucket is passed over.
func (e *ExperimentRunner) GetTreatmentForRequest(
	header http.Header,
	payload []byte,
	_ runner.GetTreatmentOptions,
) (*runner.Treatment, error) {
	for _, exp := range e.experiments {
		unit, err := unitValue(header, payload,
			exp.SegmentationConfig.SegmenterSource, exp.SegmentationConfig.SegmenterValue)
		if err != nil {
			continue
		}
		bucket := Bucket(unit)

		var total uint32
		for _, name := range e.sortedTreatments[exp.ID] {
			variant := exp.VariantsConfig[name]
			total += uint32(variant.Traffic * 10000)
			if bucket <= total {
				return &runner.Treatment{
					ExperimentName: exp.Name,
					Name:           name,
					Config:         variant.Data,
				}, nil
			}
		}
	}
	return nil, ErrNoExperiment
}
