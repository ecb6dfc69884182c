package policy

import "testing"

// WithoutHistory switches the enforcer's history off: the baseline of the
// benchmarks that weigh what the history costs (a test-only hook).
func WithoutHistory(e *Enforcer) { e.history = nil }

// MeasureCPU resets the benchmark's timer and returns the function that
// stops it and reports the CPU time per op (cpu-µs/op).
func MeasureCPU(b *testing.B) (report func()) { return startCPU(b).report }
