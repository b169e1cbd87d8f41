package hardcoded

import (
	"encoding/json"
	"sort"

	"github.com/caraml-dev/turing/engines/experiment/manager"
)

// ExperimentManager is a standard experiment manager whose experiments,
// variants and variables are given in its configuration. GetEngineInfo,
// ValidateExperimentConfig, IsCacheEnabled, ListClients and
// ListVariablesForClient come from Turing's BaseStandardExperimentManager.
//
// As in Turing's example, calling GetEngineInfo or ValidateExperimentConfig
// before Configure dereferences a nil base manager and the plugin dies.
type ExperimentManager struct {
	*manager.BaseStandardExperimentManager
	experiments map[string]Experiment
	variables   map[string][]manager.Variable
}

// Configure reads a ManagerConfig.
func (e *ExperimentManager) Configure(cfg json.RawMessage) error {
	var config ManagerConfig
	if err := json.Unmarshal(cfg, &config); err != nil {
		return err
	}
	e.BaseStandardExperimentManager = manager.NewBaseStandardExperimentManager(config.Engine)
	e.experiments = make(map[string]Experiment)
	for _, exp := range config.Experiments {
		e.experiments[exp.Name] = exp
	}
	e.variables = config.Variables
	return nil
}

// ListExperiments lists the configured experiments (keyed by name: a later
// experiment with the same name replaces an earlier one). Turing's example
// returns them in map order; this port sorts them by name.
func (e *ExperimentManager) ListExperiments() ([]manager.Experiment, error) {
	names := make([]string, 0, len(e.experiments))
	for name := range e.experiments {
		names = append(names, name)
	}
	sort.Strings(names)
	var experiments []manager.Experiment
	for _, name := range names {
		experiments = append(experiments, e.experiments[name].Experiment)
	}
	return experiments, nil
}

// ListExperimentsForClient ignores the client and lists all experiments.
func (e *ExperimentManager) ListExperimentsForClient(manager.Client) ([]manager.Experiment, error) {
	return e.ListExperiments()
}

// ListVariablesForExperiments maps each given experiment's ID to the variables
// configured for that ID, leaving out experiments without any.
func (e *ExperimentManager) ListVariablesForExperiments(exps []manager.Experiment) (map[string][]manager.Variable, error) {
	variableMap := map[string][]manager.Variable{}
	for _, exp := range exps {
		if variables, ok := e.variables[exp.ID]; ok {
			variableMap[exp.ID] = variables
		}
	}
	return variableMap, nil
}

// GetExperimentRunnerConfig turns a Turing standard experiment config into a
// RunnerConfig: for each selected experiment (looked up by name among the
// configured ones) the first "unit" variable of that experiment, if the
// variables' config has an entry for it, becomes the segmentation config.
func (e *ExperimentManager) GetExperimentRunnerConfig(cfg json.RawMessage) (json.RawMessage, error) {
	standardExpCfg, err := manager.ParseStandardExperimentConfig(cfg)
	if err != nil {
		return nil, err
	}

	runnerExperiments := make([]Experiment, len(standardExpCfg.Experiments))
	for idx, exp := range standardExpCfg.Experiments {
		runnerExperiments[idx] = e.experiments[exp.Name]

		for _, variable := range standardExpCfg.Variables.ExperimentVariables[exp.ID] {
			if variable.Type != manager.UnitVariableType {
				continue
			}
			for _, varConfig := range standardExpCfg.Variables.Config {
				if varConfig.Name == variable.Name {
					runnerExperiments[idx].SegmentationConfig = SegmenterConfig{
						Name:            variable.Name,
						SegmenterSource: varConfig.FieldSource,
						SegmenterValue:  varConfig.Field,
					}
					break
				}
			}
			break
		}
	}
	return json.Marshal(RunnerConfig{Experiments: runnerExperiments})
}
