package host

import "github.com/prometheus/client_golang/prometheus"

// Collector exposes the plugins' Stats as Prometheus metrics, labelled by plugin. It reads the
// host at each scrape.
type Collector struct {
	h     *Host
	descs map[string]*prometheus.Desc
}

var _ prometheus.Collector = (*Collector)(nil)

// pageSize is the size of a WASM memory page.
const pageSize = 65536

// NewCollector returns a collector over the host's plugins. Its Describe does not read the host.
func NewCollector(h *Host) *Collector {
	d := func(name, help string) *prometheus.Desc {
		return prometheus.NewDesc("hangar_plugin_"+name, help, []string{"plugin"}, nil)
	}
	return &Collector{h: h, descs: map[string]*prometheus.Desc{
		"calls":        d("calls_total", "WASM calls (batches) made."),
		"failures":     d("call_failures_total", "Calls that failed as a whole (trap, deadline, output)."),
		"records":      d("records_total", "Records of successful calls."),
		"record_err":   d("record_errors_total", "Records the plugin failed."),
		"refused":      d("refused_emissions_total", "Records whose emissions the host refused."),
		"guest":        d("guest_seconds_total", "Time spent in calls."),
		"instances":    d("instances", "Instances alive."),
		"memory":       d("instance_memory_max_bytes", "Most linear memory one instance has held."),
		"quarantined":  d("quarantined", "1 if the plugin is quarantined."),
		"logs_dropped": d("logs_dropped_total", "Plugin log lines dropped by the rate limit."),
		"denied":       d("denied_host_calls_total", "Calls to host functions not granted."),
		"mem_limit":    d("memory_limit_bytes", "Linear memory an instance may hold."),
		"fs_reads":     d("fs_reads_total", "Successful fs_read calls."),
		"fs_bytes":     d("fs_read_bytes_total", "Bytes of files fs_read returned."),
		"cold_start":   d("cold_start_seconds", "Time to compile (or load from the cache) and make the first instance."),
		"recycles":     d("window_recycles_total", "Instances recycled because their window of content was full."),
		"window":       d("window_bytes", "Bytes of content the instances' windows hold."),
		"content": prometheus.NewDesc("hangar_plugin_content_reads_total", "Records whose content field the plugin was shown.",
			[]string{"plugin", "field"}, nil),
	}}
}

// Describe implements prometheus.Collector.
func (c *Collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range c.descs {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	for _, s := range c.h.Stats() {
		m := func(key string, t prometheus.ValueType, v float64) {
			ch <- prometheus.MustNewConstMetric(c.descs[key], t, v, s.Name)
		}
		q := 0.0
		if s.Quarantined {
			q = 1
		}
		m("calls", prometheus.CounterValue, float64(s.Calls))
		m("failures", prometheus.CounterValue, float64(s.Failures))
		m("records", prometheus.CounterValue, float64(s.Records))
		m("record_err", prometheus.CounterValue, float64(s.RecordErrors))
		m("refused", prometheus.CounterValue, float64(s.Refused))
		m("guest", prometheus.CounterValue, s.GuestTime.Seconds())
		m("instances", prometheus.GaugeValue, float64(s.Instances))
		m("memory", prometheus.GaugeValue, float64(s.MaxMemoryBytes))
		m("quarantined", prometheus.GaugeValue, q)
		m("logs_dropped", prometheus.CounterValue, float64(s.LogsDropped))
		m("denied", prometheus.CounterValue, float64(s.DeniedHostCalls))
		m("mem_limit", prometheus.GaugeValue, float64(s.MemoryLimitPages)*pageSize)
		m("fs_reads", prometheus.CounterValue, float64(s.FSReads))
		m("fs_bytes", prometheus.CounterValue, float64(s.FSReadBytes))
		m("cold_start", prometheus.GaugeValue, s.ColdStart.Seconds())
		m("recycles", prometheus.CounterValue, float64(s.WindowRecycles))
		m("window", prometheus.GaugeValue, float64(s.WindowBytes))
		for field, n := range s.ContentReads {
			ch <- prometheus.MustNewConstMetric(c.descs["content"], prometheus.CounterValue, float64(n), s.Name, field)
		}
	}
}
