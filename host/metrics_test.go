package host

import (
	"context"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

// TestCollector checks the per-plugin series of /metrics after one call, and that a collector
// describes its metrics without a host.
func TestCollector(t *testing.T) {
	h := newTestHost(t, Config{})
	p := loadTest(t, h, "echo", append([]string{"content:prompt"}, echoCaps...), Limits{MemoryPages: 300})
	if _, err := p.Call(context.Background(), "capture", [][]byte{[]byte(`{"hook_event_name":"Stop","prompt":"hello there"}`)}); err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(NewCollector(h))
	fams, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, f := range fams {
		for _, m := range f.GetMetric() {
			key := f.GetName()
			for _, l := range m.GetLabel() {
				key += "," + l.GetName() + "=" + l.GetValue()
			}
			v := m.GetCounter().GetValue() + m.GetGauge().GetValue()
			got[key] = v
		}
	}
	tests := []struct {
		sample string
		want   float64 // -1: any positive value
	}{
		{"hangar_plugin_calls_total,plugin=echo", 1},
		{"hangar_plugin_records_total,plugin=echo", 1},
		{"hangar_plugin_call_failures_total,plugin=echo", 0},
		{"hangar_plugin_quarantined,plugin=echo", 0},
		{"hangar_plugin_guest_seconds_total,plugin=echo", -1},
		{"hangar_plugin_instance_memory_max_bytes,plugin=echo", -1},
		{"hangar_plugin_memory_limit_bytes,plugin=echo", 300 * 65536},
		{"hangar_plugin_cold_start_seconds,plugin=echo", -1},
		{"hangar_plugin_content_reads_total,field=prompt,plugin=echo", 1},
	}
	for _, tt := range tests {
		v, ok := got[tt.sample]
		switch {
		case !ok:
			t.Errorf("no sample %s in %v", tt.sample, got)
		case tt.want < 0 && v <= 0, tt.want >= 0 && v != tt.want:
			t.Errorf("%s = %v, want %v", tt.sample, v, tt.want)
		}
	}
	descs := make(chan *prometheus.Desc, 100)
	NewCollector(nil).Describe(descs)
	if len(descs) != len(NewCollector(nil).descs) {
		t.Errorf("Describe without a host sent %d descriptions", len(descs))
	}
}
