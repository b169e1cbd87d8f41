// Command hardcoded-plugin is a Turing experiment engine plugin: a port of
// Turing's "hardcoded" example served through Turing's own plugin/rpc code.
//
// Environment:
//
//	EXPERIMENTS_PLUGIN=turing   go-plugin's magic cookie (set by the host)
//	TURNOUT_TEST_FAULT=SPEC     test faults, see internal/fault
//	TURNOUT_TEST_METRICS=1      also serve runner.RegisterMetricsCollector
//	TURNOUT_TEST_LOG_LEVEL=LVL  hclog level (default info)
//
// Both configs may carry "fault": "SPEC"; it is added when Configure applies
// that config.
package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/go-plugin"

	tlog "github.com/caraml-dev/turing/engines/experiment/log"
	"github.com/caraml-dev/turing/engines/experiment/manager"
	"github.com/caraml-dev/turing/engines/experiment/plugin/rpc"
	rpcmanager "github.com/caraml-dev/turing/engines/experiment/plugin/rpc/manager"
	"github.com/caraml-dev/turing/engines/experiment/runner"

	"turnout.dev/tests/gopeers/internal/fault"
	"turnout.dev/tests/gopeers/internal/hardcoded"
	"turnout.dev/tests/gopeers/internal/metricsrpc"
)

var (
	faults = fault.NewSet()
	logger hclog.Logger
)

func addConfigFault(cfg json.RawMessage) error {
	var opt struct {
		Fault string `json:"fault"`
	}
	if json.Unmarshal(cfg, &opt) == nil && opt.Fault != "" {
		return faults.Add(opt.Fault)
	}
	return nil
}

// managerService adds the test faults to the hardcoded manager.
type managerService struct {
	hardcoded.ExperimentManager
}

func (m *managerService) Configure(cfg json.RawMessage) error {
	if err := faults.Enter("manager.Configure"); err != nil {
		return err
	}
	if err := m.ExperimentManager.Configure(cfg); err != nil {
		return err
	}
	logger.Info("manager configured")
	return addConfigFault(cfg)
}

func (m *managerService) GetEngineInfo() (manager.Engine, error) {
	if err := faults.Enter("manager.GetEngineInfo"); err != nil {
		return manager.Engine{}, err
	}
	return m.ExperimentManager.GetEngineInfo()
}

func (m *managerService) ValidateExperimentConfig(cfg json.RawMessage) error {
	if err := faults.Enter("manager.ValidateExperimentConfig"); err != nil {
		return err
	}
	return m.ExperimentManager.ValidateExperimentConfig(cfg)
}

func (m *managerService) GetExperimentRunnerConfig(cfg json.RawMessage) (json.RawMessage, error) {
	if err := faults.Enter("manager.GetExperimentRunnerConfig"); err != nil {
		return nil, err
	}
	return m.ExperimentManager.GetExperimentRunnerConfig(cfg)
}

func (m *managerService) IsCacheEnabled() (bool, error) {
	if err := faults.Enter("manager.IsCacheEnabled"); err != nil {
		return false, err
	}
	return m.ExperimentManager.IsCacheEnabled()
}

func (m *managerService) ListClients() ([]manager.Client, error) {
	if err := faults.Enter("manager.ListClients"); err != nil {
		return nil, err
	}
	return m.ExperimentManager.ListClients()
}

func (m *managerService) ListExperiments() ([]manager.Experiment, error) {
	if err := faults.Enter("manager.ListExperiments"); err != nil {
		return nil, err
	}
	return m.ExperimentManager.ListExperiments()
}

func (m *managerService) ListExperimentsForClient(c manager.Client) ([]manager.Experiment, error) {
	if err := faults.Enter("manager.ListExperimentsForClient"); err != nil {
		return nil, err
	}
	return m.ExperimentManager.ListExperimentsForClient(c)
}

func (m *managerService) ListVariablesForClient(c manager.Client) ([]manager.Variable, error) {
	if err := faults.Enter("manager.ListVariablesForClient"); err != nil {
		return nil, err
	}
	return m.ExperimentManager.ListVariablesForClient(c)
}

func (m *managerService) ListVariablesForExperiments(exps []manager.Experiment) (map[string][]manager.Variable, error) {
	if err := faults.Enter("manager.ListVariablesForExperiments"); err != nil {
		return nil, err
	}
	return m.ExperimentManager.ListVariablesForExperiments(exps)
}

// runnerService adds the test faults and, once registered, metrics callbacks
// to the hardcoded runner.
type runnerService struct {
	hardcoded.ExperimentRunner
	mu        sync.Mutex
	collector metricsrpc.Collector
}

const (
	treatmentsMetric = metricsrpc.MetricName("turnout_gopeer_treatments_total")
	durationMetric   = metricsrpc.MetricName("turnout_gopeer_treatment_duration_ms")
	readyMetric      = metricsrpc.MetricName("turnout_gopeer_ready")
)

func (r *runnerService) Configure(cfg json.RawMessage) error {
	if err := faults.Enter("runner.Configure"); err != nil {
		return err
	}
	if err := r.ExperimentRunner.Configure(cfg); err != nil {
		return err
	}
	logger.Info("runner configured")
	return addConfigFault(cfg)
}

func (r *runnerService) GetTreatmentForRequest(
	header http.Header, payload []byte, options runner.GetTreatmentOptions,
) (*runner.Treatment, error) {
	start := time.Now()
	if err := faults.Enter("runner.GetTreatmentForRequest"); err != nil {
		return nil, err
	}
	treatment, err := r.ExperimentRunner.GetTreatmentForRequest(header, payload, options)
	r.mu.Lock()
	collector := r.collector
	r.mu.Unlock()
	if collector != nil && err == nil {
		labels := map[string]string{"experiment": treatment.ExperimentName, "treatment": treatment.Name}
		if cerr := collector.Inc(treatmentsMetric, labels); cerr != nil {
			logger.Warn("collector Inc failed", "error", cerr)
		}
		if cerr := collector.MeasureDurationMsSince(durationMetric, start,
			map[string]string{"experiment": treatment.ExperimentName}); cerr != nil {
			logger.Warn("collector MeasureDurationMsSince failed", "error", cerr)
		}
	}
	return treatment, err
}

// RegisterMetricsCollector registers the plugin's metrics with the helper,
// records a gauge and keeps the collector for per-treatment callbacks.
func (r *runnerService) RegisterMetricsCollector(
	collector metricsrpc.Collector, helper metricsrpc.RegistrationHelper,
) error {
	if err := faults.Enter("runner.RegisterMetricsCollector"); err != nil {
		return err
	}
	err := helper.Register([]metricsrpc.Metric{
		{Name: string(treatmentsMetric), Type: "counter",
			Description: "Treatments returned by the Go test plugin", Labels: []string{"experiment", "treatment"}},
		{Name: string(durationMetric), Type: "histogram",
			Description: "Time spent choosing a treatment", Labels: []string{"experiment"},
			Buckets: []float64{0.05, 0.1, 0.5, 1, 5}},
		{Name: string(readyMetric), Type: "gauge", Description: "1 once registered", Labels: []string{"plugin"}},
	})
	if err != nil {
		return fmt.Errorf("registering metrics: %w", err)
	}
	if err := collector.RecordGauge(readyMetric, 1, map[string]string{"plugin": "hardcoded"}); err != nil {
		return fmt.Errorf("recording gauge: %w", err)
	}
	r.mu.Lock()
	r.collector = collector
	r.mu.Unlock()
	return nil
}

func main() {
	level := hclog.Info
	if lvl := os.Getenv("TURNOUT_TEST_LOG_LEVEL"); lvl != "" {
		level = hclog.LevelFromString(lvl)
	}
	logger = hclog.New(&hclog.LoggerOptions{
		Level:      level,
		Name:       "hardcoded-plugin",
		JSONFormat: true,
	})
	tlog.SetGlobalLogger(logger)

	if spec := os.Getenv(fault.EnvVar); spec != "" {
		if err := faults.Add(spec); err != nil {
			fmt.Fprintf(os.Stderr, "%s: %v\n", fault.EnvVar, err)
			os.Exit(64)
		}
	}
	faults.Startup()

	mgr := &managerService{}
	run := &runnerService{}

	if os.Getenv("TURNOUT_TEST_METRICS") == "" || os.Getenv("TURNOUT_TEST_METRICS") == "0" {
		// Turing's own serving code, unchanged.
		rpc.Serve(&rpc.ClientServices{Manager: mgr, Runner: run})
		return
	}

	// Same handshake and manager plugin as Turing's rpc.Serve; the runner
	// plugin also serves RegisterMetricsCollector.
	plugin.Serve(&plugin.ServeConfig{
		HandshakeConfig: plugin.HandshakeConfig{
			ProtocolVersion:  1,
			MagicCookieKey:   "EXPERIMENTS_PLUGIN",
			MagicCookieValue: "turing",
		},
		Plugins: plugin.PluginSet{
			rpc.ManagerPluginIdentifier: &rpcmanager.ExperimentManagerPlugin{Impl: mgr},
			rpc.RunnerPluginIdentifier:  &metricsrpc.RunnerPlugin{Impl: run},
		},
	})
}
