// Package metricsrpc carries the runner's RegisterMetricsCollector exchange
// that Turing added to engines/experiment after the module version we build
// against: the host allocates two broker ids and serves a metrics collector and
// a metrics registration helper on them; the plugin dials both and may then
// call back. Wire facts (method names, argument structs and their field names,
// the []uint32{collectorID, helperID} argument) follow Turing's current
// plugin/rpc/runner; the code is ours.
package metricsrpc

import (
	"encoding/json"
	"net/rpc"
	"time"

	"github.com/hashicorp/go-plugin"

	rpcrunner "github.com/caraml-dev/turing/engines/experiment/plugin/rpc/runner"
	"github.com/caraml-dev/turing/engines/experiment/runner"
)

// MetricName is the name of a metric (a string on the wire).
type MetricName string

// MetricType is "gauge", "histogram" or "counter".
type MetricType string

// MeasureDurationMsSinceRequest is the argument of Plugin.MeasureDurationMsSince.
type MeasureDurationMsSinceRequest struct {
	Key       MetricName
	Starttime time.Time
	Labels    map[string]string
}

// RecordGaugeRequest is the argument of Plugin.RecordGauge.
type RecordGaugeRequest struct {
	Key    MetricName
	Value  float64
	Labels map[string]string
}

// IncRequest is the argument of Plugin.Inc.
type IncRequest struct {
	Key    MetricName
	Labels map[string]string
}

// Metric is one metric a plugin asks the router to register
// (Turing's instrumentation.Metric).
type Metric struct {
	Name        string
	Type        MetricType
	Description string
	Labels      []string
	Buckets     []float64
}

// Collector is the router's metrics collector as a plugin sees it.
type Collector interface {
	MeasureDurationMsSince(key MetricName, start time.Time, labels map[string]string) error
	RecordGauge(key MetricName, value float64, labels map[string]string) error
	Inc(key MetricName, labels map[string]string) error
}

// RegistrationHelper registers extra metrics on the router.
type RegistrationHelper interface {
	Register(metrics []Metric) error
}

// MetricsRunner is a runner that accepts a collector.
type MetricsRunner interface {
	RegisterMetricsCollector(Collector, RegistrationHelper) error
}

// ----- plugin side -----

type collectorClient struct{ c *rpc.Client }

func (c *collectorClient) MeasureDurationMsSince(key MetricName, start time.Time, labels map[string]string) error {
	return c.c.Call("Plugin.MeasureDurationMsSince",
		&MeasureDurationMsSinceRequest{Key: key, Starttime: start, Labels: labels}, new(interface{}))
}

func (c *collectorClient) RecordGauge(key MetricName, value float64, labels map[string]string) error {
	return c.c.Call("Plugin.RecordGauge", &RecordGaugeRequest{Key: key, Value: value, Labels: labels}, new(interface{}))
}

func (c *collectorClient) Inc(key MetricName, labels map[string]string) error {
	return c.c.Call("Plugin.Inc", &IncRequest{Key: key, Labels: labels}, new(interface{}))
}

type helperClient struct{ c *rpc.Client }

func (h *helperClient) Register(metrics []Metric) error {
	return h.c.Call("Plugin.Register", metrics, new(interface{}))
}

type turingRunnerServer interface {
	Configure(json.RawMessage, *interface{}) error
	GetTreatmentForRequest(*rpcrunner.GetTreatmentRequest, *runner.Treatment) error
}

// RunnerServer is served as "Plugin" for experiment_runner: Configure and
// GetTreatmentForRequest go through Turing's own runner RPC server; it adds
// RegisterMetricsCollector.
type RunnerServer struct {
	turing turingRunnerServer
	broker *plugin.MuxBroker
	impl   MetricsRunner
}

// Configure is served by Turing's runner RPC server.
func (s *RunnerServer) Configure(cfg json.RawMessage, reply *interface{}) error {
	return s.turing.Configure(cfg, reply)
}

// GetTreatmentForRequest is served by Turing's runner RPC server.
func (s *RunnerServer) GetTreatmentForRequest(req *rpcrunner.GetTreatmentRequest, resp *runner.Treatment) error {
	return s.turing.GetTreatmentForRequest(req, resp)
}

// RegisterMetricsCollector dials the host's collector and helper streams,
// both before calling the implementation, as Turing's runner server does.
func (s *RunnerServer) RegisterMetricsCollector(brokerIDs []uint32, _ *interface{}) error {
	collectorConn, err := s.broker.Dial(brokerIDs[0])
	if err != nil {
		return err
	}
	helperConn, err := s.broker.Dial(brokerIDs[1])
	if err != nil {
		return err
	}
	return s.impl.RegisterMetricsCollector(
		&collectorClient{c: rpc.NewClient(collectorConn)},
		&helperClient{c: rpc.NewClient(helperConn)},
	)
}

// RunnerPlugin serves RunnerServer for the experiment_runner plugin name.
type RunnerPlugin struct {
	Impl interface {
		rpcrunner.ConfigurableExperimentRunner
		MetricsRunner
	}
}

// Server builds Turing's runner server and wraps it.
func (p *RunnerPlugin) Server(b *plugin.MuxBroker) (interface{}, error) {
	inner, err := (&rpcrunner.ExperimentRunnerPlugin{Impl: p.Impl}).Server(b)
	if err != nil {
		return nil, err
	}
	return &RunnerServer{turing: inner.(turingRunnerServer), broker: b, impl: p.Impl}, nil
}

// Client is never used on the plugin side.
func (p *RunnerPlugin) Client(b *plugin.MuxBroker, c *rpc.Client) (interface{}, error) {
	return NewRunnerClient(b, c)
}

// ----- host side -----

// RunnerClient is Turing's runner RPC client plus the broker and the raw
// net/rpc client for RegisterMetricsCollector.
type RunnerClient struct {
	rpcrunner.ConfigurableExperimentRunner
	Broker *plugin.MuxBroker
	RPC    *rpc.Client
}

// NewRunnerClient wraps Turing's runner client.
func NewRunnerClient(b *plugin.MuxBroker, c *rpc.Client) (*RunnerClient, error) {
	inner, err := rpcrunner.ExperimentRunnerPlugin{}.Client(b, c)
	if err != nil {
		return nil, err
	}
	return &RunnerClient{
		ConfigurableExperimentRunner: inner.(rpcrunner.ConfigurableExperimentRunner),
		Broker:                       b,
		RPC:                          c,
	}, nil
}

// RegisterMetricsCollector allocates two broker ids, serves collector and
// helper on them and calls the plugin, as Turing's router does at start-up.
func (c *RunnerClient) RegisterMetricsCollector(collector CollectorServer, helper HelperServer) error {
	collectorID := c.Broker.NextId()
	go c.Broker.AcceptAndServe(collectorID, collector)
	helperID := c.Broker.NextId()
	go c.Broker.AcceptAndServe(helperID, helper)
	return c.RPC.Call("Plugin.RegisterMetricsCollector", []uint32{collectorID, helperID}, new(interface{}))
}

// CollectorServer is what a host serves on the collector stream. Its methods
// must be net/rpc methods: (arg, *reply) error.
type CollectorServer interface {
	MeasureDurationMsSince(req *MeasureDurationMsSinceRequest, _ *interface{}) error
	RecordGauge(req *RecordGaugeRequest, _ *interface{}) error
	Inc(req *IncRequest, _ *interface{}) error
}

// HelperServer is what a host serves on the registration helper stream.
type HelperServer interface {
	Register(metrics []Metric, _ *interface{}) error
}

// RunnerHostPlugin is the host's plugin entry for experiment_runner.
type RunnerHostPlugin struct{}

// Server is never used on the host side.
func (RunnerHostPlugin) Server(*plugin.MuxBroker) (interface{}, error) {
	return nil, nil
}

// Client returns a RunnerClient.
func (RunnerHostPlugin) Client(b *plugin.MuxBroker, c *rpc.Client) (interface{}, error) {
	return NewRunnerClient(b, c)
}
