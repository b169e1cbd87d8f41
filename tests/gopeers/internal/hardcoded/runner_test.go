package hardcoded

import (
	"encoding/json"
	"net/http"
	"testing"

	"github.com/caraml-dev/turing/engines/experiment/runner"
)

const testRunnerConfig = `{
	"experiments": [{
		"id": "001", "name": "exp_1",
		"variants": [{"name": "control"}, {"name": "treatment-1"}],
		"segmentation_configuration": {"name": "client_id", "source": "payload", "value": "client.id"},
		"variants_configuration": {
			"control": {"traffic": 0.85, "treatment_configuration": {"foo": "bar"}},
			"treatment-1": {"traffic": 0.15, "treatment_configuration": {"bar": "baz"}}
		}
	}]
}`

// The cases of Turing's hardcoded example runner test.
func TestGetTreatmentForRequest(t *testing.T) {
	cases := []struct {
		name    string
		header  http.Header
		payload string
		want    *runner.Treatment
		err     string
	}{
		{name: "client 4", payload: `{"client": {"id": 4}}`,
			want: &runner.Treatment{ExperimentName: "exp_1", Name: "control", Config: json.RawMessage(`{"foo": "bar"}`)}},
		{name: "client 7", payload: `{"client": {"id": 7}}`,
			want: &runner.Treatment{ExperimentName: "exp_1", Name: "treatment-1", Config: json.RawMessage(`{"bar": "baz"}`)}},
		{name: "no unit", payload: `{}`, err: "no experiment configured for the unit"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := &ExperimentRunner{}
			if err := r.Configure(json.RawMessage(testRunnerConfig)); err != nil {
				t.Fatal(err)
			}
			got, err := r.GetTreatmentForRequest(tc.header, []byte(tc.payload), runner.GetTreatmentOptions{})
			if tc.err != "" {
				if err == nil || err.Error() != tc.err {
					t.Fatalf("error %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got.ExperimentName != tc.want.ExperimentName || got.Name != tc.want.Name ||
				string(got.Config) != string(tc.want.Config) {
				t.Fatalf("got %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestFloat32Shares(t *testing.T) {
	var traffic float32 = 0.5005
	if got := uint32(traffic * 10000); got != 5005 {
		t.Fatalf("float32 share %d, want 5005", got)
	}
	wide := 0.5005
	if got := uint32(wide * 10000); got != 5004 {
		t.Fatalf("float64 share %d, want 5004", got)
	}
}

func TestUnitValue(t *testing.T) {
	h := http.Header{"X-Unit": {"a", "b"}}
	if v, err := unitValue(h, nil, "header", "x-unit"); err != nil || v != "a,b" {
		t.Fatalf("header: %q %v", v, err)
	}
	payload := []byte(`{"a": {"b": [1, 2], "n": null, "s": "x\"y"}}`)
	for path, want := range map[string]string{"a.b": "[1, 2]", "a.n": "", "a.s": `x\"y`} {
		if v, err := unitValue(nil, payload, "payload", path); err != nil || v != want {
			t.Fatalf("%s: %q %v, want %q", path, v, err, want)
		}
	}
	if _, err := unitValue(nil, payload, "payload", "a.missing"); err == nil {
		t.Fatal("missing path: no error")
	}
	if _, err := unitValue(h, payload, "other", "x"); err == nil {
		t.Fatal("unknown source: no error")
	}
}
