// Package loader loads the enabled plugins of the plugin registry into the pipeline, and keeps
// them loaded while the agent runs.
//
// A [Loader] owns the plugin host (host.Host) and the audit log it writes: it makes them on the
// first load that needs them and closes them in [Loader.Close]. It serves each platform's capture
// stage (a [Swap] the caller registered in its pipeline.Captures) with the first enabled capture
// plugin of the platform in host.CaptureOrder (an installed one before the first-party one),
// keeps the next in line compiled in the cache (a warm standby), and runs each enabled enrich
// plugin as a consumer of the event log and each enabled insight plugin over the derived records
// it was granted, over the store [Loader.Start] was given.
//
// Its lifecycle: [New] → [Loader.Start] (the first load, given the open store) → any number of
// [Loader.Reload] (after `agent plugins` changed the registry) → [Loader.Close]. A reload is
// whole: the loader's lock is held from its start to its end, so two reloads, or a reload and the
// hand-back of a quarantined capture plugin's platform, never interleave. A plugin whose registry
// entry a reload finds unchanged (same manifest, module, grants and install, not quarantined)
// stays loaded as it was, with its counters.
//
// What it reports, [Loader.PluginStatus], [Loader.Captures] and the Prometheus metrics
// ([Loader.Describe], [Loader.Collect]), never waits for a reload and is safe at any time,
// concurrently with everything else.
//
// The plugins' content reads are counted by the host and written to the audit log, aggregated,
// every [Config.AuditFlush] (a minute by default), on [Loader.FlushAudit], when a plugin is
// replaced or unloaded, and at Close.
package loader
