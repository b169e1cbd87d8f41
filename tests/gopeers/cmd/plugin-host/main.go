// Command plugin-host loads an experiment engine plugin the way Turing does,
// through Turing's plugin/rpc client code, and calls its methods.
//
//	plugin-host [flags] call [--script FILE|-] CALL [ARG] CALL [ARG] ...
//	plugin-host [flags] bench [--n N] [--concurrency C] [--request JSON] ...
//
// Run "plugin-host help" for the flags and the calls.
package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/hashicorp/go-plugin"
	wrapper "github.com/zaffka/zap-to-hclog"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/caraml-dev/turing/engines/experiment/manager"
	"github.com/caraml-dev/turing/engines/experiment/plugin/rpc"
	rpcmanager "github.com/caraml-dev/turing/engines/experiment/plugin/rpc/manager"
	rpcrunner "github.com/caraml-dev/turing/engines/experiment/plugin/rpc/runner"
	"github.com/caraml-dev/turing/engines/experiment/runner"

	"turnout.dev/tests/gopeers/internal/benchstats"
	"turnout.dev/tests/gopeers/internal/metricsrpc"
)

const usage = `plugin-host: load a Turing experiment engine plugin and call it.

Usage:
  plugin-host [flags] call [--script FILE|-] [CALL [ARG]]...
  plugin-host [flags] bench [bench flags]
  plugin-host help

Flags (before or after the subcommand):
  --plugin PATH            plugin executable (required); started with no arguments
  --manager-config JSON    engine config: dispense the manager through Turing's
                           EngineFactory, which calls Configure with it first
  --runner-config JSON     runner config: likewise for the runner
                           (JSON values may be given as @FILE)
  --timeout DURATION       give up waiting for one call after DURATION and go on
                           (default 0: wait forever, like Turing)
  --connect MODE           turing: Turing's rpc.Connect; broker: go-plugin's
                           NewClient with the same settings, keeping the broker
                           for RegisterMetricsCollector; auto (default): broker if
                           the calls include runner.RegisterMetricsCollector
  --log-level LEVEL        host log level on stderr: debug|info|warn|error (default info)
  --fail-on-error          exit 3 if any call failed

Calls (ARG is given for the calls that take one):
  manager.Configure JSON                 manager.GetEngineInfo
  manager.ValidateExperimentConfig JSON  manager.GetExperimentRunnerConfig JSON
  manager.IsCacheEnabled                 manager.ListClients
  manager.ListExperiments                manager.ListExperimentsForClient CLIENT
  manager.ListVariablesForClient CLIENT  manager.ListVariablesForExperiments EXPERIMENTS
  runner.Configure JSON                  runner.GetTreatmentForRequest REQUEST
  runner.RegisterMetricsCollector        plugin.Ping
  sleep DURATION
  CLIENT is {"id","username","passkey"}, EXPERIMENTS a list of
  {"id","name","client_id","variants":[{"name"}]}, REQUEST is
  {"header":{"Name":"v" or ["v",...]},"payload":"text" or any JSON value,
   "payload_b64":"...","requestId":"...","raw_header":false}
  (header names are canonicalised as Go's HTTP server does unless raw_header).

  --script FILE (or - for stdin): one call per line as
  {"call":"runner.Configure","arg":<JSON value>} or {"call":...,"arg_text":"..."};
  the script's calls run before those on the command line.

Each call prints one JSON line on stdout:
  {"i":N,"call":"...","ok":true,"result":...,"us":MICROS}
  {"i":N,"call":"...","ok":false,"error":"...","us":MICROS[,"timeout":true]}
  GetExperimentRunnerConfig adds "result_text" (the exact bytes) and
  GetTreatmentForRequest "config_text". Callbacks from the plugin to the
  collector/helper print {"event":"collector.Inc","request":{...}} etc.
  A failed connection prints {"call":"connect","ok":false,...} and exits 1.

Bench flags:
  --n N                 calls to time (default 10000)
  --concurrency C       goroutines sharing the N calls (default 1)
  --warmup N            untimed calls first (default 200)
  --method CALL         call to time (default runner.GetTreatmentForRequest)
  --request JSON        its argument (default {"header":{"X-Unit":["4"]}})
  Prints {"kind":"plugin-host-bench","p50_us":..,"p99_us":..,"calls_per_s":..,...}.
`

type callSpec struct {
	Name string
	Arg  *string
}

type methodInfo struct{ takesArg bool }

var methods = map[string]methodInfo{
	"manager.Configure":                   {true},
	"manager.GetEngineInfo":               {false},
	"manager.ValidateExperimentConfig":    {true},
	"manager.GetExperimentRunnerConfig":   {true},
	"manager.IsCacheEnabled":              {false},
	"manager.ListClients":                 {false},
	"manager.ListExperiments":             {false},
	"manager.ListExperimentsForClient":    {true},
	"manager.ListVariablesForClient":      {true},
	"manager.ListVariablesForExperiments": {true},
	"runner.Configure":                    {true},
	"runner.GetTreatmentForRequest":       {true},
	"runner.RegisterMetricsCollector":     {false},
	"plugin.Ping":                         {false},
	"sleep":                               {true},
}

// ---------- output ----------

type output struct {
	mu  sync.Mutex
	enc *json.Encoder
}

func newOutput(w io.Writer) *output {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	return &output{enc: enc}
}

func (o *output) print(v interface{}) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if err := o.enc.Encode(v); err != nil {
		_ = o.enc.Encode(map[string]interface{}{"ok": false, "error": "cannot encode output: " + err.Error()})
	}
}

// rawJSON embeds b when it is valid JSON, else gives it as a string.
func rawJSON(b []byte) interface{} {
	if b == nil {
		return nil
	}
	if json.Valid(b) {
		return json.RawMessage(b)
	}
	return string(b)
}

func textOrNil(b []byte) interface{} {
	if len(b) == 0 {
		return nil
	}
	return string(b)
}

// ---------- metrics callbacks served by the host ----------

type collectorServer struct{ out *output }

func (c *collectorServer) MeasureDurationMsSince(req *metricsrpc.MeasureDurationMsSinceRequest, _ *interface{}) error {
	c.out.print(map[string]interface{}{"event": "collector.MeasureDurationMsSince", "request": map[string]interface{}{
		"Key": req.Key, "Starttime": req.Starttime.Format(time.RFC3339Nano), "Labels": req.Labels,
		"ElapsedMs": float64(time.Since(req.Starttime).Microseconds()) / 1000}})
	return nil
}

func (c *collectorServer) RecordGauge(req *metricsrpc.RecordGaugeRequest, _ *interface{}) error {
	c.out.print(map[string]interface{}{"event": "collector.RecordGauge", "request": req})
	return nil
}

func (c *collectorServer) Inc(req *metricsrpc.IncRequest, _ *interface{}) error {
	c.out.print(map[string]interface{}{"event": "collector.Inc", "request": req})
	return nil
}

type helperServer struct{ out *output }

func (h *helperServer) Register(metrics []metricsrpc.Metric, _ *interface{}) error {
	h.out.print(map[string]interface{}{"event": "helper.Register", "request": metrics})
	return nil
}

// ---------- the host ----------

type host struct {
	out        *output
	client     plugin.ClientProtocol
	pluginProc *plugin.Client // broker mode only
	mgrCfg     json.RawMessage
	runCfg     json.RawMessage
	mgr        rpcmanager.ConfigurableExperimentManager
	run        rpcrunner.ConfigurableExperimentRunner
}

func readJSONFlag(v string) (json.RawMessage, error) {
	if v == "" {
		return nil, nil
	}
	if strings.HasPrefix(v, "@") {
		b, err := os.ReadFile(v[1:])
		if err != nil {
			return nil, err
		}
		return json.RawMessage(b), nil
	}
	return json.RawMessage(v), nil
}

func newLogger(level string) (*zap.Logger, error) {
	var lvl zapcore.Level
	if err := lvl.UnmarshalText([]byte(level)); err != nil {
		return nil, err
	}
	cfg := zap.NewDevelopmentConfig()
	cfg.Level = zap.NewAtomicLevelAt(lvl)
	cfg.OutputPaths = []string{"stderr"}
	cfg.ErrorOutputPaths = []string{"stderr"}
	cfg.DisableStacktrace = true
	cfg.DisableCaller = true
	return cfg.Build()
}

// connect starts the plugin. Mode "turing" is Turing's rpc.Connect itself;
// "broker" builds the same client config by hand so that the runner client
// can keep go-plugin's MuxBroker.
func connect(mode, pluginPath string, logger *zap.Logger) (plugin.ClientProtocol, *plugin.Client, error) {
	if mode == "turing" {
		c, err := rpc.Connect(pluginPath, logger)
		return c, nil, err
	}
	pc := plugin.NewClient(&plugin.ClientConfig{
		HandshakeConfig: plugin.HandshakeConfig{
			ProtocolVersion:  1,
			MagicCookieKey:   "EXPERIMENTS_PLUGIN",
			MagicCookieValue: "turing",
		},
		Cmd: exec.Command(pluginPath),
		Plugins: map[string]plugin.Plugin{
			rpc.ManagerPluginIdentifier: &rpcmanager.ExperimentManagerPlugin{},
			rpc.RunnerPluginIdentifier:  metricsrpc.RunnerHostPlugin{},
		},
		AllowedProtocols: []plugin.Protocol{plugin.ProtocolNetRPC},
		Logger:           wrapper.Wrap(logger),
	})
	c, err := pc.Client()
	if err != nil {
		pc.Kill()
		return nil, nil, fmt.Errorf("error attempting to connect to plugin rpc client: %w", err)
	}
	return c, pc, nil
}

func (h *host) manager() (rpcmanager.ConfigurableExperimentManager, error) {
	if h.mgr != nil {
		return h.mgr, nil
	}
	if h.mgrCfg != nil {
		f := &rpc.EngineFactory{Client: h.client, EngineConfig: h.mgrCfg}
		m, err := f.GetExperimentManager()
		if err != nil {
			return nil, err
		}
		h.mgr = m.(rpcmanager.ConfigurableExperimentManager)
		return h.mgr, nil
	}
	raw, err := h.client.Dispense(rpc.ManagerPluginIdentifier)
	if err != nil {
		return nil, fmt.Errorf("unable to retrieve %q plugin instance: %w", rpc.ManagerPluginIdentifier, err)
	}
	m, ok := raw.(rpcmanager.ConfigurableExperimentManager)
	if !ok {
		return nil, fmt.Errorf("unable to cast %T to ConfigurableExperimentManager", raw)
	}
	h.mgr = m
	return m, nil
}

func (h *host) standard() (manager.StandardExperimentManager, error) {
	m, err := h.manager()
	if err != nil {
		return nil, err
	}
	sm, ok := m.(manager.StandardExperimentManager)
	if !ok {
		return nil, fmt.Errorf("%T is not a StandardExperimentManager", m)
	}
	return sm, nil
}

func (h *host) runner() (rpcrunner.ConfigurableExperimentRunner, error) {
	if h.run != nil {
		return h.run, nil
	}
	if h.runCfg != nil {
		f := &rpc.EngineFactory{Client: h.client, EngineConfig: h.runCfg}
		r, err := f.GetExperimentRunner()
		if err != nil {
			return nil, err
		}
		h.run = r.(rpcrunner.ConfigurableExperimentRunner)
		return h.run, nil
	}
	raw, err := h.client.Dispense(rpc.RunnerPluginIdentifier)
	if err != nil {
		return nil, fmt.Errorf("unable to retrieve %q plugin instance: %w", rpc.RunnerPluginIdentifier, err)
	}
	r, ok := raw.(rpcrunner.ConfigurableExperimentRunner)
	if !ok {
		return nil, fmt.Errorf("unable to cast %T to ConfigurableExperimentRunner", raw)
	}
	h.run = r
	return r, nil
}

type treatmentRequestJSON struct {
	Header     map[string]json.RawMessage `json:"header"`
	Payload    json.RawMessage            `json:"payload"`
	PayloadB64 []byte                     `json:"payload_b64"`
	RequestID  string                     `json:"requestId"`
	RawHeader  bool                       `json:"raw_header"`
}

type treatmentRequest struct {
	header  map[string][]string
	payload []byte
	options runner.GetTreatmentOptions
}

func parseTreatmentRequest(arg string) (*treatmentRequest, error) {
	var j treatmentRequestJSON
	dec := json.NewDecoder(strings.NewReader(arg))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&j); err != nil {
		return nil, fmt.Errorf("bad GetTreatmentForRequest argument: %w", err)
	}
	r := &treatmentRequest{options: runner.GetTreatmentOptions{TuringRequestID: j.RequestID}}
	if j.Header != nil {
		r.header = map[string][]string{}
		for k, v := range j.Header {
			var values []string
			var one string
			if err := json.Unmarshal(v, &one); err == nil {
				values = []string{one}
			} else if err := json.Unmarshal(v, &values); err != nil {
				return nil, fmt.Errorf("header %q: want a string or a list of strings", k)
			}
			if !j.RawHeader {
				k = http.CanonicalHeaderKey(k)
			}
			r.header[k] = append(r.header[k], values...)
		}
	}
	switch {
	case j.PayloadB64 != nil:
		r.payload = j.PayloadB64
	case len(j.Payload) > 0 && j.Payload[0] == '"':
		var s string
		if err := json.Unmarshal(j.Payload, &s); err != nil {
			return nil, err
		}
		r.payload = []byte(s)
	case len(j.Payload) > 0 && string(j.Payload) != "null":
		r.payload = []byte(j.Payload)
	}
	return r, nil
}

type result struct {
	value interface{}
	extra map[string]interface{}
}

// do performs one call and returns what to print.
func (h *host) do(c callSpec) (result, error) {
	arg := ""
	if c.Arg != nil {
		arg = *c.Arg
	}
	raw := json.RawMessage(arg)
	switch c.Name {
	case "sleep":
		d, err := time.ParseDuration(arg)
		if err != nil {
			return result{}, err
		}
		time.Sleep(d)
		return result{}, nil
	case "plugin.Ping":
		return result{}, h.client.Ping()
	case "manager.Configure":
		m, err := h.manager()
		if err != nil {
			return result{}, err
		}
		return result{}, m.Configure(raw)
	case "manager.GetEngineInfo":
		m, err := h.manager()
		if err != nil {
			return result{}, err
		}
		v, err := m.GetEngineInfo()
		return result{value: v}, err
	case "manager.ValidateExperimentConfig":
		m, err := h.manager()
		if err != nil {
			return result{}, err
		}
		return result{}, m.ValidateExperimentConfig(raw)
	case "manager.GetExperimentRunnerConfig":
		m, err := h.manager()
		if err != nil {
			return result{}, err
		}
		v, err := m.GetExperimentRunnerConfig(raw)
		return result{value: rawJSON(v), extra: map[string]interface{}{"result_text": textOrNil(v)}}, err
	}

	if strings.HasPrefix(c.Name, "manager.") {
		sm, err := h.standard()
		if err != nil {
			return result{}, err
		}
		switch c.Name {
		case "manager.IsCacheEnabled":
			v, err := sm.IsCacheEnabled()
			return result{value: v}, err
		case "manager.ListClients":
			v, err := sm.ListClients()
			return result{value: v}, err
		case "manager.ListExperiments":
			v, err := sm.ListExperiments()
			return result{value: v}, err
		case "manager.ListExperimentsForClient", "manager.ListVariablesForClient":
			var client manager.Client
			if err := json.Unmarshal(raw, &client); err != nil {
				return result{}, fmt.Errorf("bad client argument: %w", err)
			}
			if c.Name == "manager.ListExperimentsForClient" {
				v, err := sm.ListExperimentsForClient(client)
				return result{value: v}, err
			}
			v, err := sm.ListVariablesForClient(client)
			return result{value: v}, err
		case "manager.ListVariablesForExperiments":
			var exps []manager.Experiment
			if err := json.Unmarshal(raw, &exps); err != nil {
				return result{}, fmt.Errorf("bad experiments argument: %w", err)
			}
			v, err := sm.ListVariablesForExperiments(exps)
			return result{value: v}, err
		}
	}

	r, err := h.runner()
	if err != nil {
		return result{}, err
	}
	switch c.Name {
	case "runner.Configure":
		return result{}, r.Configure(raw)
	case "runner.GetTreatmentForRequest":
		req, err := parseTreatmentRequest(arg)
		if err != nil {
			return result{}, err
		}
		t, err := r.GetTreatmentForRequest(req.header, req.payload, req.options)
		if err != nil {
			return result{}, err
		}
		return result{
			value: map[string]interface{}{"ExperimentName": t.ExperimentName, "Name": t.Name, "Config": rawJSON(t.Config)},
			extra: map[string]interface{}{"config_text": textOrNil(t.Config)},
		}, nil
	case "runner.RegisterMetricsCollector":
		mr, ok := r.(*metricsrpc.RunnerClient)
		if !ok {
			return result{}, errors.New("runner.RegisterMetricsCollector needs --connect broker " +
				"(Turing's pinned runner client has no such method)")
		}
		return result{}, mr.RegisterMetricsCollector(&collectorServer{out: h.out}, &helperServer{out: h.out})
	}
	return result{}, fmt.Errorf("unknown call %q", c.Name)
}

// timed runs do with an optional timeout.
func (h *host) timed(c callSpec, timeout time.Duration) (result, error, time.Duration, bool) {
	start := time.Now()
	if timeout <= 0 {
		r, err := h.do(c)
		return r, err, time.Since(start), false
	}
	type done struct {
		r   result
		err error
	}
	ch := make(chan done, 1)
	go func() {
		r, err := h.do(c)
		ch <- done{r, err}
	}()
	select {
	case d := <-ch:
		return d.r, d.err, time.Since(start), false
	case <-time.After(timeout):
		return result{}, fmt.Errorf("no answer after %s", timeout), time.Since(start), true
	}
}

// shutdown asks the plugin to quit (Control.Quit) and makes sure it is gone.
func (h *host) shutdown() {
	if h.pluginProc != nil {
		h.pluginProc.Kill()
		return
	}
	if h.client != nil {
		done := make(chan struct{})
		go func() { _ = h.client.Close(); close(done) }()
		select {
		case <-done:
		case <-time.After(2 * time.Second):
		}
	}
	reapChildren(2 * time.Second)
}

// reapChildren waits up to grace for this process's children to exit, then
// kills those left. Turing's rpc.Connect does not hand out the *plugin.Client,
// so the plugin process is found through /proc.
func reapChildren(grace time.Duration) {
	deadline := time.Now().Add(grace)
	for {
		kids := children()
		if len(kids) == 0 {
			return
		}
		if time.Now().After(deadline) {
			for _, pid := range kids {
				_ = syscall.Kill(pid, syscall.SIGKILL)
			}
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func children() []int {
	me := os.Getpid()
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	var out []int
	for _, e := range entries {
		var pid int
		if _, err := fmt.Sscanf(e.Name(), "%d", &pid); err != nil {
			continue
		}
		b, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		s := string(b)
		i := strings.LastIndex(s, ")")
		if i < 0 {
			continue
		}
		var state string
		var ppid int
		if _, err := fmt.Sscanf(s[i+1:], " %s %d", &state, &ppid); err != nil {
			continue
		}
		if ppid == me && state != "Z" {
			out = append(out, pid)
		}
	}
	return out
}

// ---------- command line ----------

type options struct {
	plugin      string
	managerCfg  string
	runnerCfg   string
	timeout     time.Duration
	connectMode string
	logLevel    string
	failOnError bool
}

func (o *options) register(fs *flag.FlagSet) {
	fs.StringVar(&o.plugin, "plugin", o.plugin, "plugin executable")
	fs.StringVar(&o.managerCfg, "manager-config", o.managerCfg, "manager (engine) config JSON or @FILE")
	fs.StringVar(&o.runnerCfg, "runner-config", o.runnerCfg, "runner config JSON or @FILE")
	fs.DurationVar(&o.timeout, "timeout", o.timeout, "per-call timeout")
	fs.StringVar(&o.connectMode, "connect", o.connectMode, "turing|broker|auto")
	fs.StringVar(&o.logLevel, "log-level", o.logLevel, "debug|info|warn|error")
	fs.BoolVar(&o.failOnError, "fail-on-error", o.failOnError, "exit 3 if a call failed")
}

func fatalf(format string, args ...interface{}) {
	fmt.Fprintf(os.Stderr, "plugin-host: "+format+"\n", args...)
	os.Exit(2)
}

func parseCalls(args []string) ([]callSpec, error) {
	var calls []callSpec
	for i := 0; i < len(args); i++ {
		name := args[i]
		info, ok := methods[name]
		if !ok {
			return nil, fmt.Errorf("unknown call %q (see plugin-host help)", name)
		}
		c := callSpec{Name: name}
		if info.takesArg {
			if i+1 >= len(args) {
				return nil, fmt.Errorf("%s needs an argument", name)
			}
			i++
			a := args[i]
			c.Arg = &a
		}
		calls = append(calls, c)
	}
	return calls, nil
}

func readScript(path string) ([]callSpec, error) {
	var r io.Reader
	if path == "-" {
		r = os.Stdin
	} else {
		f, err := os.Open(path)
		if err != nil {
			return nil, err
		}
		defer f.Close()
		r = f
	}
	dec := json.NewDecoder(r)
	var calls []callSpec
	for {
		var item struct {
			Call    string          `json:"call"`
			Arg     json.RawMessage `json:"arg"`
			ArgText *string         `json:"arg_text"`
		}
		if err := dec.Decode(&item); err == io.EOF {
			break
		} else if err != nil {
			return nil, fmt.Errorf("script: %w", err)
		}
		info, ok := methods[item.Call]
		if !ok {
			return nil, fmt.Errorf("script: unknown call %q", item.Call)
		}
		c := callSpec{Name: item.Call}
		switch {
		case item.ArgText != nil:
			c.Arg = item.ArgText
		case item.Arg != nil:
			a := string(item.Arg)
			if item.Call == "sleep" {
				_ = json.Unmarshal(item.Arg, &a)
			}
			c.Arg = &a
		case info.takesArg:
			return nil, fmt.Errorf("script: %s needs \"arg\" or \"arg_text\"", item.Call)
		}
		calls = append(calls, c)
	}
	return calls, nil
}

func main() {
	opts := &options{connectMode: "auto", logLevel: "info"}
	global := flag.NewFlagSet("plugin-host", flag.ContinueOnError)
	global.Usage = func() { fmt.Fprint(os.Stderr, usage) }
	opts.register(global)
	if err := global.Parse(os.Args[1:]); err != nil {
		os.Exit(2)
	}
	rest := global.Args()
	if len(rest) == 0 || rest[0] == "help" || rest[0] == "-h" {
		fmt.Print(usage)
		return
	}
	sub, rest := rest[0], rest[1:]

	switch sub {
	case "call":
		fs := flag.NewFlagSet("call", flag.ContinueOnError)
		fs.Usage = func() { fmt.Fprint(os.Stderr, usage) }
		opts.register(fs)
		script := fs.String("script", "", "file of JSON calls, - for stdin")
		if err := fs.Parse(rest); err != nil {
			os.Exit(2)
		}
		var calls []callSpec
		if *script != "" {
			sc, err := readScript(*script)
			if err != nil {
				fatalf("%v", err)
			}
			calls = sc
		}
		more, err := parseCalls(fs.Args())
		if err != nil {
			fatalf("%v", err)
		}
		calls = append(calls, more...)
		os.Exit(runCalls(opts, calls))
	case "bench":
		fs := flag.NewFlagSet("bench", flag.ContinueOnError)
		fs.Usage = func() { fmt.Fprint(os.Stderr, usage) }
		opts.register(fs)
		n := fs.Int("n", 10000, "timed calls")
		conc := fs.Int("concurrency", 1, "concurrent callers")
		warmup := fs.Int("warmup", 200, "untimed calls")
		method := fs.String("method", "runner.GetTreatmentForRequest", "call to time")
		request := fs.String("request", `{"header":{"X-Unit":["4"]}}`, "argument of the call")
		if err := fs.Parse(rest); err != nil {
			os.Exit(2)
		}
		os.Exit(runBench(opts, *n, *conc, *warmup, *method, *request))
	default:
		fatalf("unknown subcommand %q (call, bench, help)", sub)
	}
}

func start(opts *options, needBroker bool) (*host, *output, int) {
	out := newOutput(os.Stdout)
	if opts.plugin == "" {
		fatalf("--plugin is required")
	}
	mgrCfg, err := readJSONFlag(opts.managerCfg)
	if err != nil {
		fatalf("--manager-config: %v", err)
	}
	runCfg, err := readJSONFlag(opts.runnerCfg)
	if err != nil {
		fatalf("--runner-config: %v", err)
	}
	logger, err := newLogger(opts.logLevel)
	if err != nil {
		fatalf("--log-level: %v", err)
	}
	mode := opts.connectMode
	switch mode {
	case "auto":
		mode = "turing"
		if needBroker {
			mode = "broker"
		}
	case "turing", "broker":
	default:
		fatalf("--connect: want turing, broker or auto")
	}
	h := &host{out: out, mgrCfg: mgrCfg, runCfg: runCfg}

	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM)
	go func() {
		s := <-sigs
		for _, pid := range children() {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
		os.Exit(128 + int(s.(syscall.Signal)))
	}()

	t0 := time.Now()
	client, proc, err := connect(mode, opts.plugin, logger)
	if err != nil {
		out.print(map[string]interface{}{"call": "connect", "ok": false, "error": err.Error(),
			"us": benchstats.Micros(time.Since(t0))})
		reapChildren(0)
		return nil, out, 1
	}
	h.client, h.pluginProc = client, proc
	return h, out, 0
}

func runCalls(opts *options, calls []callSpec) int {
	needBroker := false
	for _, c := range calls {
		if c.Name == "runner.RegisterMetricsCollector" {
			needBroker = true
		}
	}
	h, out, code := start(opts, needBroker)
	if code != 0 {
		return code
	}
	defer h.shutdown()
	failed := false
	for i, c := range calls {
		r, err, d, timedOut := h.timed(c, opts.timeout)
		line := map[string]interface{}{"i": i, "call": c.Name, "us": benchstats.Micros(d)}
		if err != nil {
			failed = true
			line["ok"] = false
			line["error"] = err.Error()
			if timedOut {
				line["timeout"] = true
			}
		} else {
			line["ok"] = true
			line["result"] = r.value
			for k, v := range r.extra {
				line[k] = v
			}
		}
		out.print(line)
	}
	if failed && opts.failOnError {
		return 3
	}
	return 0
}

func runBench(opts *options, n, conc, warmup int, method, request string) int {
	info, ok := methods[method]
	if !ok || method == "sleep" {
		fatalf("--method: unknown call %q", method)
	}
	c := callSpec{Name: method}
	if info.takesArg {
		c.Arg = &request
	}
	if conc < 1 {
		conc = 1
	}
	h, out, code := start(opts, false)
	if code != 0 {
		return code
	}
	defer h.shutdown()

	// Dispense (and configure) before timing.
	for i := 0; i < warmup || i == 0; i++ {
		if _, err := h.do(c); err != nil {
			out.print(map[string]interface{}{"kind": "plugin-host-bench", "ok": false,
				"error": "warm-up call failed: " + err.Error()})
			return 1
		}
	}

	lat := make([]time.Duration, n)
	var next int64 = -1
	var errorsCount int64
	var firstErr string
	var errMu sync.Mutex
	var wg sync.WaitGroup
	t0 := time.Now()
	for g := 0; g < conc; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := atomic.AddInt64(&next, 1)
				if i >= int64(n) {
					return
				}
				s := time.Now()
				_, err := h.do(c)
				lat[i] = time.Since(s)
				if err != nil {
					atomic.AddInt64(&errorsCount, 1)
					errMu.Lock()
					if firstErr == "" {
						firstErr = err.Error()
					}
					errMu.Unlock()
				}
			}
		}()
	}
	wg.Wait()
	wall := time.Since(t0)
	stats := benchstats.Summarize(lat, wall)
	stats["kind"] = "plugin-host-bench"
	stats["ok"] = errorsCount == 0
	stats["method"] = method
	stats["concurrency"] = conc
	stats["warmup"] = warmup
	stats["errors"] = errorsCount
	if firstErr != "" {
		stats["first_error"] = firstErr
	}
	out.print(stats)
	if errorsCount > 0 {
		return 1
	}
	return 0
}
