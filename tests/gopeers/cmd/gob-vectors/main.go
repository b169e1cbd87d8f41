// Command gob-vectors prints gob encodings made by Go's encoding/gob, and
// decodes hex given to it, so that another gob implementation can be checked
// against Go's in both directions.
//
//	gob-vectors [--detailed] [--same-process]
//	    One JSON object: case name -> lowercase hex of the bytes written by one
//	    fresh gob.Encoder (several values for the multi-value cases). Each case
//	    is encoded in a fresh child process, so user type ids start where they
//	    do in a newly started process. --detailed maps each name to
//	    {"hex","types","values","decoded","tagged"} instead: the values
//	    encoded, and what Go's decoder gives back for the hex (empty slices
//	    and maps inside values come back nil, for example), both as printed by
//	    decode; "tagged" is the decoded values again with every value naming
//	    its Go kind (see jsonout.Tagged), exact enough to check another
//	    decoder's result against.
//	gob-vectors types
//	    The type names that decode accepts.
//	gob-vectors decode
//	    Reads lines from stdin, each either "TYPE HEX" or a JSON object
//	    {"type":"TYPE","hex":"..."} / {"types":["T1","T2"],"hex":"..."}, and
//	    prints one JSON line per input: {"ok":true,"values":[...],"tagged":[...]}
//	    or {"ok":false,"error":"..."}. With one type, values are decoded until the
//	    input ends; with "types", one value of each in order, and leftover
//	    bytes are an error.
//	gob-vectors case NAME
//	    The hex of one case (used internally for fresh-process encoding).
package main

import (
	"bufio"
	"bytes"
	"encoding/gob"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/rpc"
	"os"
	"os/exec"
	"reflect"
	"sort"
	"strings"
	"time"

	"github.com/caraml-dev/turing/engines/experiment/manager"
	rpcrunner "github.com/caraml-dev/turing/engines/experiment/plugin/rpc/runner"
	"github.com/caraml-dev/turing/engines/experiment/runner"

	"turnout.dev/tests/gopeers/internal/jsonout"
	"turnout.dev/tests/gopeers/internal/metricsrpc"
)

// ----- generic test types -----

// Inner is a small nested struct.
type Inner struct {
	B string
	C []int
}

// Outer nests Inner by value and by pointer.
type Outer struct {
	A  int
	In Inner
	P  *Inner
}

// Flat has one field of each common kind, to show which zero values are left out.
type Flat struct {
	A int
	B string
	C bool
	D float64
	E []int
	F map[string]int
	G *Inner
	H uint
	I []byte
}

// WithMap has a map field, sent when empty but non-nil.
type WithMap struct {
	Name string
	M    map[string]string
}

// WithArray has an array field, always sent.
type WithArray struct {
	A [3]int
}

// WithIface has an interface field.
type WithIface struct {
	V interface{}
}

// WithTime has a time field.
type WithTime struct {
	T time.Time
}

// WithRaw has a json.RawMessage field.
type WithRaw struct {
	Raw json.RawMessage
}

// Inner travels inside interface values, so gob must know it by name ("main.Inner").
func init() { gob.Register(Inner{}) }

// ----- types accepted by decode -----

var types = map[string]func() interface{}{
	"bool":                          func() interface{} { return new(bool) },
	"int":                           func() interface{} { return new(int) },
	"int64":                         func() interface{} { return new(int64) },
	"uint":                          func() interface{} { return new(uint) },
	"uint32":                        func() interface{} { return new(uint32) },
	"uint64":                        func() interface{} { return new(uint64) },
	"float32":                       func() interface{} { return new(float32) },
	"float64":                       func() interface{} { return new(float64) },
	"complex128":                    func() interface{} { return new(complex128) },
	"string":                        func() interface{} { return new(string) },
	"[]byte":                        func() interface{} { return new([]byte) },
	"[]int":                         func() interface{} { return new([]int) },
	"[]string":                      func() interface{} { return new([]string) },
	"[]float64":                     func() interface{} { return new([]float64) },
	"[]uint32":                      func() interface{} { return new([]uint32) },
	"[3]int":                        func() interface{} { return new([3]int) },
	"map[string]int":                func() interface{} { return new(map[string]int) },
	"map[string]string":             func() interface{} { return new(map[string]string) },
	"interface{}":                   func() interface{} { return new(interface{}) },
	"struct{}":                      func() interface{} { return new(struct{}) },
	"time.Time":                     func() interface{} { return new(time.Time) },
	"json.RawMessage":               func() interface{} { return new(json.RawMessage) },
	"http.Header":                   func() interface{} { return new(http.Header) },
	"Inner":                         func() interface{} { return new(Inner) },
	"Outer":                         func() interface{} { return new(Outer) },
	"Flat":                          func() interface{} { return new(Flat) },
	"WithMap":                       func() interface{} { return new(WithMap) },
	"WithArray":                     func() interface{} { return new(WithArray) },
	"WithIface":                     func() interface{} { return new(WithIface) },
	"WithTime":                      func() interface{} { return new(WithTime) },
	"WithRaw":                       func() interface{} { return new(WithRaw) },
	"[]Inner":                       func() interface{} { return new([]Inner) },
	"rpc.Request":                   func() interface{} { return new(rpc.Request) },
	"rpc.Response":                  func() interface{} { return new(rpc.Response) },
	"manager.Engine":                func() interface{} { return new(manager.Engine) },
	"manager.Client":                func() interface{} { return new(manager.Client) },
	"manager.Experiment":            func() interface{} { return new(manager.Experiment) },
	"manager.Variable":              func() interface{} { return new(manager.Variable) },
	"[]manager.Client":              func() interface{} { return new([]manager.Client) },
	"[]manager.Experiment":          func() interface{} { return new([]manager.Experiment) },
	"[]manager.Variable":            func() interface{} { return new([]manager.Variable) },
	"map[string][]manager.Variable": func() interface{} { return new(map[string][]manager.Variable) },
	"runner.Treatment":              func() interface{} { return new(runner.Treatment) },
	"runner.GetTreatmentOptions":    func() interface{} { return new(runner.GetTreatmentOptions) },
	"rpcrunner.GetTreatmentRequest": func() interface{} { return new(rpcrunner.GetTreatmentRequest) },
	"rpcrunner.MeasureDurationMsSinceRequest": func() interface{} { return new(metricsrpc.MeasureDurationMsSinceRequest) },
	"rpcrunner.RecordGaugeRequest":            func() interface{} { return new(metricsrpc.RecordGaugeRequest) },
	"rpcrunner.IncRequest":                    func() interface{} { return new(metricsrpc.IncRequest) },
	"instrumentation.Metric":                  func() interface{} { return new(metricsrpc.Metric) },
	"[]instrumentation.Metric":                func() interface{} { return new([]metricsrpc.Metric) },
}

// ----- cases -----

type gcase struct {
	name   string
	types  []string
	values []interface{}
}

func one(name, typ string, v interface{}) gcase {
	return gcase{name: name, types: []string{typ}, values: []interface{}{v}}
}

var (
	t0          = time.Date(2024, 1, 2, 3, 4, 5, 123456789, time.UTC)
	ist         = time.FixedZone("IST", 5*3600+30*60)
	oddZone     = time.FixedZone("LMT", 5*3600+53*60+28)
	westZone    = time.FixedZone("", -(3*3600 + 30*60))
	stdEngine   = manager.Engine{Name: "plugin-example", DisplayName: "Plugin Example", Type: manager.StandardExperimentManagerType, StandardExperimentManagerConfig: &manager.StandardExperimentManagerConfig{ClientSelectionEnabled: false, ExperimentSelectionEnabled: true, HomePageURL: "http://example.com"}}
	experiment1 = manager.Experiment{ID: "001", Name: "exp_1", ClientID: "c1", Variants: []manager.Variant{{Name: "control"}, {Name: "treatment-1"}}}
	experiment2 = manager.Experiment{ID: "002", Name: "exp_2"}
	variable1   = manager.Variable{Name: "client", Required: true, Type: manager.UnitVariableType}
	variable2   = manager.Variable{Name: "country", Type: manager.FilterVariableType}
	treatment1  = runner.Treatment{ExperimentName: "exp_1", Name: "control", Config: json.RawMessage(`{"foo": "bar"}`)}
	getReq      = &rpcrunner.GetTreatmentRequest{
		Header:  http.Header{"X-Unit": {"4"}},
		Payload: []byte(`{"client": {"id": 4}}`),
		Options: runner.GetTreatmentOptions{TuringRequestID: "req-1"},
	}
	metricList = []metricsrpc.Metric{
		{Name: "turnout_gopeer_treatments_total", Type: "counter", Description: "Treatments", Labels: []string{"experiment", "treatment"}},
		{Name: "turnout_gopeer_treatment_duration_ms", Type: "histogram", Labels: []string{"experiment"}, Buckets: []float64{0.05, 0.1, 1, 5}},
	}
)

func cases() []gcase {
	cs := []gcase{
		// Turing's wire types.
		one("engine_minimal", "manager.Engine", manager.Engine{Name: "nop", Type: manager.StandardExperimentManagerType}),
		one("engine_zero", "manager.Engine", manager.Engine{}),
		one("engine_standard", "manager.Engine", stdEngine),
		one("engine_standard_zero_config", "manager.Engine", manager.Engine{Name: "e", Type: manager.StandardExperimentManagerType, StandardExperimentManagerConfig: &manager.StandardExperimentManagerConfig{}}),
		one("engine_custom", "manager.Engine", manager.Engine{Name: "custom-engine", DisplayName: "Custom", Type: manager.CustomExperimentManagerType, CustomExperimentManagerConfig: &manager.CustomExperimentManagerConfig{RemoteUI: manager.RemoteUI{Name: "xp", URL: "http://ui/remoteEntry.js", Config: "http://ui/config.json"}, ExperimentConfigSchema: "{}"}}),
		one("engine_custom_zero_remote_ui", "manager.Engine", manager.Engine{Name: "c", Type: manager.CustomExperimentManagerType, CustomExperimentManagerConfig: &manager.CustomExperimentManagerConfig{ExperimentConfigSchema: "s"}}),
		one("client", "manager.Client", manager.Client{ID: "1", Username: "client-1", Passkey: "secret"}),
		one("client_zero", "manager.Client", manager.Client{}),
		one("experiment", "manager.Experiment", experiment1),
		one("experiment_no_variants", "manager.Experiment", experiment2),
		one("experiment_empty_variant_name", "manager.Experiment", manager.Experiment{ID: "3", Variants: []manager.Variant{{}, {Name: "b"}}}),
		one("variable", "manager.Variable", variable1),
		one("experiments", "[]manager.Experiment", []manager.Experiment{experiment1, experiment2}),
		one("experiments_empty", "[]manager.Experiment", []manager.Experiment{}),
		one("experiments_nil", "[]manager.Experiment", []manager.Experiment(nil)),
		one("clients_empty", "[]manager.Client", []manager.Client{}),
		one("variables", "[]manager.Variable", []manager.Variable{variable1, variable2}),
		one("variables_map", "map[string][]manager.Variable", map[string][]manager.Variable{"001": {variable1, variable2}}),
		one("variables_map_empty_list", "map[string][]manager.Variable", map[string][]manager.Variable{"001": {}}),
		one("variables_map_empty", "map[string][]manager.Variable", map[string][]manager.Variable{}),
		one("treatment", "runner.Treatment", treatment1),
		one("treatment_no_config", "runner.Treatment", runner.Treatment{ExperimentName: "exp_1", Name: "control"}),
		one("treatment_zero", "runner.Treatment", runner.Treatment{}),
		one("get_treatment_request", "rpcrunner.GetTreatmentRequest", getReq),
		one("get_treatment_request_multi_value_header", "rpcrunner.GetTreatmentRequest", &rpcrunner.GetTreatmentRequest{Header: http.Header{"X-Unit": {"4", "5"}}}),
		one("get_treatment_request_empty_header", "rpcrunner.GetTreatmentRequest", &rpcrunner.GetTreatmentRequest{Header: http.Header{}, Payload: []byte("{}")}),
		one("get_treatment_request_zero", "rpcrunner.GetTreatmentRequest", &rpcrunner.GetTreatmentRequest{}),
		one("get_treatment_options", "runner.GetTreatmentOptions", runner.GetTreatmentOptions{TuringRequestID: "req-1"}),
		one("rpc_request_dispense", "rpc.Request", rpc.Request{ServiceMethod: "Dispenser.Dispense"}),
		one("rpc_request", "rpc.Request", rpc.Request{ServiceMethod: "Plugin.GetTreatmentForRequest", Seq: 7}),
		one("rpc_response", "rpc.Response", rpc.Response{ServiceMethod: "Plugin.GetEngineInfo", Seq: 3}),
		one("rpc_response_error", "rpc.Response", rpc.Response{ServiceMethod: "Plugin.GetTreatmentForRequest", Seq: 300, Error: "no experiment configured for the unit"}),
		one("measure_duration_ms_since", "rpcrunner.MeasureDurationMsSinceRequest", &metricsrpc.MeasureDurationMsSinceRequest{Key: "turnout_gopeer_treatment_duration_ms", Starttime: t0, Labels: map[string]string{"experiment": "exp_1"}}),
		one("measure_duration_ms_since_ist", "rpcrunner.MeasureDurationMsSinceRequest", &metricsrpc.MeasureDurationMsSinceRequest{Key: "k", Starttime: time.Date(2024, 6, 30, 23, 59, 59, 999, ist)}),
		one("measure_duration_ms_since_far_future_west", "rpcrunner.MeasureDurationMsSinceRequest", &metricsrpc.MeasureDurationMsSinceRequest{Key: "k", Starttime: time.Date(9000, 1, 2, 3, 4, 5, 6000, westZone), Labels: map[string]string{}}),
		one("measure_duration_ms_since_1900", "rpcrunner.MeasureDurationMsSinceRequest", &metricsrpc.MeasureDurationMsSinceRequest{Key: "k", Starttime: time.Date(1900, 2, 28, 23, 0, 0, 0, time.UTC)}),
		one("record_gauge", "rpcrunner.RecordGaugeRequest", &metricsrpc.RecordGaugeRequest{Key: "turnout_gopeer_ready", Value: 1.5, Labels: map[string]string{"plugin": "hardcoded"}}),
		one("record_gauge_zero_value", "rpcrunner.RecordGaugeRequest", &metricsrpc.RecordGaugeRequest{Key: "g", Labels: map[string]string{}}),
		one("inc", "rpcrunner.IncRequest", &metricsrpc.IncRequest{Key: "turnout_gopeer_treatments_total", Labels: map[string]string{"treatment": "control"}}),
		one("inc_no_labels", "rpcrunner.IncRequest", &metricsrpc.IncRequest{Key: "c"}),
		one("metric", "instrumentation.Metric", metricList[1]),
		one("metrics", "[]instrumentation.Metric", metricList),
		one("broker_ids", "[]uint32", []uint32{1, 2}),
		one("nil_interface", "interface{}", new(interface{})),
		one("dispense_name", "string", "experiment_runner"),
		one("dispense_reply", "uint32", uint32(1)),

		// Generic values.
		one("bool_true", "bool", true),
		one("bool_false", "bool", false),
		one("string_empty", "string", ""),
		one("string_ascii", "string", "hello"),
		one("string_unicode", "string", "héllo, 世界 🎲"),
		one("bytes", "[]byte", []byte{0, 1, 2, 0x7f, 0x80, 0xff}),
		one("bytes_empty", "[]byte", []byte{}),
		one("raw_message", "json.RawMessage", json.RawMessage(`{"a":1}`)),
		one("raw_message_empty", "json.RawMessage", json.RawMessage{}),
		one("struct_raw_message", "WithRaw", WithRaw{Raw: json.RawMessage(`[1, 2]`)}),
		one("struct_empty", "struct{}", struct{}{}),
		one("struct_nested", "Outer", Outer{A: -3, In: Inner{B: "in", C: []int{1, -1}}, P: &Inner{B: "p"}}),
		one("struct_nested_zero_inner", "Outer", Outer{A: 1}),
		one("struct_ptr_to_zero_struct", "Outer", Outer{P: &Inner{}}),
		one("ptr_to_zero_struct", "Inner", &Inner{}),
		one("struct_zero_fields_omitted", "Flat", Flat{A: 0, B: "b", C: false, D: 2.5, E: nil, F: nil, G: nil, H: 9}),
		one("struct_all_fields", "Flat", Flat{A: -1, B: "b", C: true, D: 0.1, E: []int{0, 0}, F: map[string]int{"k": 0}, G: &Inner{C: []int{7}}, H: 1, I: []byte{0}}),
		one("struct_all_zero", "Flat", Flat{}),
		one("struct_empty_map", "WithMap", WithMap{Name: "m", M: map[string]string{}}),
		one("struct_nil_map", "WithMap", WithMap{Name: "m"}),
		one("map_empty", "map[string]int", map[string]int{}),
		one("map_one", "map[string]int", map[string]int{"a": 1}),
		one("map_string_string", "map[string]string", map[string]string{"k": "v"}),
		one("http_header", "http.Header", http.Header{"Content-Type": {"application/json"}}),
		one("slice_int", "[]int", []int{0, 1, -1, 300}),
		one("slice_string", "[]string", []string{"", "a"}),
		one("slice_float64", "[]float64", []float64{0, 0.5, -2.5, 1e300}),
		one("slice_structs_with_zero", "[]Inner", []Inner{{}, {B: "x"}}),
		one("array_3int", "[3]int", [3]int{1, 2, 3}),
		one("array_3int_zero", "[3]int", [3]int{}),
		one("struct_array_zero", "WithArray", WithArray{}),
		one("struct_iface_nil", "WithIface", WithIface{}),
		one("struct_iface_string", "WithIface", WithIface{V: "x"}),
		one("struct_iface_int", "WithIface", WithIface{V: 42}),
		one("struct_iface_negative_int", "WithIface", WithIface{V: -300}),
		one("struct_iface_uint", "WithIface", WithIface{V: uint(7)}),
		one("struct_iface_float", "WithIface", WithIface{V: 2.5}),
		one("struct_iface_bool", "WithIface", WithIface{V: true}),
		one("struct_iface_bytes", "WithIface", WithIface{V: []byte{1, 2}}),
		one("struct_iface_complex", "WithIface", WithIface{V: complex(1, -2)}),
		one("struct_iface_slice", "WithIface", WithIface{V: []int{5, -5}}),
		one("struct_iface_struct", "WithIface", WithIface{V: Inner{B: "in", C: []int{1}}}),
		one("struct_iface_zero_struct", "WithIface", WithIface{V: Inner{}}),
		one("complex", "complex128", complex(1.5, -17)),
		one("complex_zero", "complex128", complex(0, 0)),
		one("time_utc", "time.Time", t0),
		one("time_offset_0530", "time.Time", time.Date(2024, 1, 2, 8, 34, 5, 0, ist)),
		one("time_offset_negative", "time.Time", time.Date(1999, 12, 31, 20, 30, 0, 1, westZone)),
		one("time_offset_seconds", "time.Time", time.Date(1900, 1, 1, 0, 0, 0, 0, oddZone)),
		one("time_zero", "time.Time", time.Time{}),
		one("time_unix_epoch", "time.Time", time.Unix(0, 0).UTC()),
		one("time_before_unix_epoch", "time.Time", time.Date(1969, 12, 31, 23, 59, 59, 500000000, time.UTC)),
		one("time_year_1_second_1", "time.Time", time.Date(1, 1, 1, 0, 0, 1, 0, time.UTC)),
		one("time_year_1_east", "time.Time", time.Date(1, 1, 2, 9, 0, 0, 0, time.FixedZone("", 9*3600))),
		one("time_year_9999_last", "time.Time", time.Date(9999, 12, 31, 23, 59, 59, 999999999, time.UTC)),
		one("time_year_9999_west", "time.Time", time.Date(9999, 12, 31, 10, 0, 0, 999000, time.FixedZone("", -12*3600))),
		one("time_plus_14", "time.Time", time.Date(2100, 3, 1, 0, 0, 0, 1000, time.FixedZone("", 14*3600))),
		one("time_minus_seconds_offset", "time.Time", time.Date(1850, 6, 1, 12, 0, 0, 0, time.FixedZone("", -(4*3600+56*60+2)))),
		one("struct_time_ist", "WithTime", WithTime{T: time.Date(2024, 6, 30, 23, 59, 59, 999999000, ist)}),
		one("struct_time_zero", "WithTime", WithTime{}),
		one("struct_time", "WithTime", WithTime{T: t0}),
	}
	for _, iv := range []struct {
		name string
		v    int64
	}{{"0", 0}, {"1", 1}, {"neg1", -1}, {"63", 63}, {"64", 64}, {"127", 127}, {"128", 128}, {"neg128", -128}, {"neg129", -129}, {"256", 256}, {"65535", 65535}, {"neg65536", -65536}, {"max", math.MaxInt64}, {"min", math.MinInt64}} {
		cs = append(cs, one("int_"+iv.name, "int", int(iv.v)))
	}
	cs = append(cs, one("int64_max", "int64", int64(math.MaxInt64)), one("int64_min", "int64", int64(math.MinInt64)))
	for _, uv := range []struct {
		name string
		v    uint64
	}{{"0", 0}, {"1", 1}, {"127", 127}, {"128", 128}, {"255", 255}, {"256", 256}, {"65536", 65536}, {"1e12", 1e12}} {
		cs = append(cs, one("uint_"+uv.name, "uint", uint(uv.v)))
	}
	cs = append(cs, one("uint64_max", "uint64", uint64(math.MaxUint64)), one("uint32_max", "uint32", uint32(math.MaxUint32)))
	for _, fv := range []struct {
		name string
		v    float64
	}{{"0", 0}, {"1", 1}, {"17", 17}, {"neg2_5", -2.5}, {"0_1", 0.1}, {"1e300", 1e300}, {"neg_zero", math.Copysign(0, -1)}, {"smallest_denormal", math.SmallestNonzeroFloat64}, {"max", math.MaxFloat64}} {
		cs = append(cs, one("float64_"+fv.name, "float64", fv.v))
	}
	cs = append(cs, one("float32_0_85", "float32", float32(0.85)), one("float32_0_15", "float32", float32(0.15)))

	// Several values on one Encoder: type definitions are sent only once.
	cs = append(cs,
		gcase{"multi_two_requests", []string{"rpc.Request", "rpc.Request"}, []interface{}{
			rpc.Request{ServiceMethod: "Dispenser.Dispense"}, rpc.Request{ServiceMethod: "Plugin.Configure", Seq: 1}}},
		gcase{"multi_dispense_call", []string{"rpc.Request", "string"}, []interface{}{
			rpc.Request{ServiceMethod: "Dispenser.Dispense"}, "experiment_manager"}},
		gcase{"multi_dispense_reply", []string{"rpc.Response", "uint32"}, []interface{}{
			rpc.Response{ServiceMethod: "Dispenser.Dispense"}, uint32(1)}},
		gcase{"multi_ping_call", []string{"rpc.Request", "bool"}, []interface{}{
			rpc.Request{ServiceMethod: "Control.Ping", Seq: 1}, true}},
		gcase{"multi_ping_reply", []string{"rpc.Response", "struct{}"}, []interface{}{
			rpc.Response{ServiceMethod: "Control.Ping", Seq: 1}, struct{}{}}},
		gcase{"multi_get_engine_info_call", []string{"rpc.Request", "interface{}"}, []interface{}{
			rpc.Request{ServiceMethod: "Plugin.GetEngineInfo"}, new(interface{})}},
		gcase{"multi_get_engine_info_reply", []string{"rpc.Response", "manager.Engine"}, []interface{}{
			rpc.Response{ServiceMethod: "Plugin.GetEngineInfo"}, stdEngine}},
		gcase{"multi_get_treatment_call", []string{"rpc.Request", "rpcrunner.GetTreatmentRequest"}, []interface{}{
			rpc.Request{ServiceMethod: "Plugin.GetTreatmentForRequest", Seq: 5}, getReq}},
		gcase{"multi_get_treatment_reply", []string{"rpc.Response", "runner.Treatment"}, []interface{}{
			rpc.Response{ServiceMethod: "Plugin.GetTreatmentForRequest", Seq: 5}, treatment1}},
		gcase{"multi_error_reply", []string{"rpc.Response", "struct{}"}, []interface{}{
			rpc.Response{ServiceMethod: "Plugin.GetTreatmentForRequest", Seq: 6, Error: "no experiment configured for the unit"}, struct{}{}}},
		gcase{"multi_configure_call_and_reply", []string{"rpc.Request", "json.RawMessage", "rpc.Response", "interface{}"}, []interface{}{
			rpc.Request{ServiceMethod: "Plugin.Configure", Seq: 2}, json.RawMessage(`{"experiments":[]}`),
			rpc.Response{ServiceMethod: "Plugin.Configure", Seq: 2}, new(interface{})}},
		gcase{"multi_engine_twice", []string{"manager.Engine", "manager.Engine"}, []interface{}{stdEngine, manager.Engine{Name: "second"}}},
		gcase{"multi_treatments", []string{"runner.Treatment", "runner.Treatment", "runner.Treatment"}, []interface{}{
			treatment1, runner.Treatment{Name: "t2"}, runner.Treatment{}}},
		gcase{"multi_register_metrics_call", []string{"rpc.Request", "[]uint32"}, []interface{}{
			rpc.Request{ServiceMethod: "Plugin.RegisterMetricsCollector", Seq: 3}, []uint32{1, 2}}},
		gcase{"multi_collector_calls", []string{"rpc.Request", "rpcrunner.IncRequest", "rpc.Request", "rpcrunner.MeasureDurationMsSinceRequest"}, []interface{}{
			rpc.Request{ServiceMethod: "Plugin.Inc"}, &metricsrpc.IncRequest{Key: "c", Labels: map[string]string{"a": "b"}},
			rpc.Request{ServiceMethod: "Plugin.MeasureDurationMsSince", Seq: 1}, &metricsrpc.MeasureDurationMsSinceRequest{Key: "d", Starttime: t0}}},
		gcase{"multi_helper_register_call", []string{"rpc.Request", "[]instrumentation.Metric"}, []interface{}{
			rpc.Request{ServiceMethod: "Plugin.Register"}, metricList}},
		gcase{"multi_ints", []string{"int", "int", "int"}, []interface{}{0, -1, math.MaxInt64}},
		gcase{"multi_iface_struct_twice", []string{"WithIface", "WithIface"}, []interface{}{
			WithIface{V: Inner{B: "first"}}, WithIface{V: Inner{C: []int{2}}}}},
	)
	return cs
}

func encode(c gcase) (string, error) {
	var buf bytes.Buffer
	enc := gob.NewEncoder(&buf)
	for _, v := range c.values {
		if err := enc.Encode(v); err != nil {
			return "", err
		}
	}
	return hex.EncodeToString(buf.Bytes()), nil
}

func findCase(name string) (gcase, bool) {
	for _, c := range cases() {
		if c.name == name {
			return c, true
		}
	}
	return gcase{}, false
}

func fatalf(format string, args ...interface{}) {
	fmt.Fprintf(os.Stderr, "gob-vectors: "+format+"\n", args...)
	os.Exit(2)
}

func main() {
	fs := flag.NewFlagSet("gob-vectors", flag.ExitOnError)
	detailed := fs.Bool("detailed", false, "print hex, types and values for each case")
	sameProcess := fs.Bool("same-process", false, "encode every case in this process (type ids then depend on the order)")
	_ = fs.Parse(os.Args[1:])
	args := fs.Args()
	if len(args) > 0 {
		switch args[0] {
		case "case":
			if len(args) != 2 {
				fatalf("usage: gob-vectors case NAME")
			}
			c, ok := findCase(args[1])
			if !ok {
				fatalf("no case %q", args[1])
			}
			h, err := encode(c)
			if err != nil {
				fatalf("%s: %v", c.name, err)
			}
			fmt.Println(h)
			return
		case "types":
			names := make([]string, 0, len(types))
			for n := range types {
				names = append(names, n)
			}
			sort.Strings(names)
			for _, n := range names {
				fmt.Println(n)
			}
			return
		case "decode":
			decodeLines(os.Stdin, os.Stdout)
			return
		default:
			fatalf("unknown command %q (case, types, decode)", args[0])
		}
	}

	self, err := os.Executable()
	if err != nil {
		fatalf("%v", err)
	}
	out := map[string]interface{}{}
	names := map[string]bool{}
	for _, c := range cases() {
		if names[c.name] {
			fatalf("duplicate case %q", c.name)
		}
		names[c.name] = true
		var h string
		if *sameProcess {
			h, err = encode(c)
		} else {
			var b []byte
			b, err = exec.Command(self, "case", c.name).Output()
			h = strings.TrimSpace(string(b))
		}
		if err != nil {
			fatalf("%s: %v", c.name, err)
		}
		if *detailed {
			values := make([]interface{}, len(c.values))
			for i, v := range c.values {
				values[i] = jsonout.Convert(v)
			}
			in := decodeInput{Types: c.types, Hex: h}
			decoded, tagged, derr := decode(in)
			if derr != nil {
				fatalf("%s: decoding our own bytes: %v", c.name, derr)
			}
			out[c.name] = map[string]interface{}{"hex": h, "types": c.types, "values": values, "decoded": decoded, "tagged": tagged}
		} else {
			out[c.name] = h
		}
	}
	enc := json.NewEncoder(os.Stdout)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", " ")
	if err := enc.Encode(out); err != nil {
		fatalf("%v", err)
	}
}

// ----- decode -----

type decodeInput struct {
	Type  string   `json:"type"`
	Types []string `json:"types"`
	Hex   string   `json:"hex"`
}

func decodeLines(r io.Reader, w io.Writer) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 1<<28)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" {
			continue
		}
		var in decodeInput
		if strings.HasPrefix(line, "{") {
			if err := json.Unmarshal([]byte(line), &in); err != nil {
				_ = enc.Encode(map[string]interface{}{"ok": false, "error": "bad input line: " + err.Error()})
				continue
			}
		} else {
			i := strings.LastIndex(line, " ")
			if i < 0 {
				_ = enc.Encode(map[string]interface{}{"ok": false, "error": "want TYPE HEX"})
				continue
			}
			in.Type, in.Hex = strings.TrimSpace(line[:i]), line[i+1:]
		}
		values, tagged, err := decode(in)
		res := map[string]interface{}{"ok": err == nil, "values": values, "tagged": tagged}
		if in.Type != "" {
			res["type"] = in.Type
		} else {
			res["types"] = in.Types
		}
		if err != nil {
			res["error"] = err.Error()
		}
		_ = enc.Encode(res)
	}
}

func decode(in decodeInput) ([]interface{}, []interface{}, error) {
	values, tagged := []interface{}{}, []interface{}{}
	data, err := hex.DecodeString(strings.TrimSpace(in.Hex))
	if err != nil {
		return nil, nil, fmt.Errorf("bad hex: %w", err)
	}
	r := bytes.NewReader(data)
	dec := gob.NewDecoder(r)
	decodeOne := func(typ string) error {
		mk, ok := types[typ]
		if !ok {
			return fmt.Errorf("unknown type %q (see gob-vectors types)", typ)
		}
		p := mk()
		if err := dec.Decode(p); err != nil {
			return err
		}
		values = append(values, jsonout.Convert(reflect.ValueOf(p).Elem().Interface()))
		tagged = append(tagged, jsonout.Tagged(reflect.ValueOf(p).Elem().Interface()))
		return nil
	}
	if len(in.Types) > 0 {
		for _, t := range in.Types {
			if err := decodeOne(t); err != nil {
				return values, tagged, err
			}
		}
		if r.Len() > 0 {
			return values, tagged, fmt.Errorf("%d bytes left over", r.Len())
		}
		return values, tagged, nil
	}
	if in.Type == "" {
		return nil, nil, errors.New("no type given")
	}
	for {
		err := decodeOne(in.Type)
		if err == io.EOF && len(values) > 0 {
			return values, tagged, nil
		}
		if err != nil {
			return values, tagged, err
		}
	}
}
