package usagestore

// KeepOnReset returns the rollup's state keys that a rebuild of derived data keeps
// (store.ResetOptions.Keep): the id of the price table its costs come from, which is the table it
// prices the rebuild with too.
func KeepOnReset() [][]byte { return [][]byte{{tableKey}} }
