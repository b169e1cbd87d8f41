// Package benchstats summarises round-trip latencies.
package benchstats

import (
	"sort"
	"time"
)

// Micros is d in microseconds, to 0.1 µs.
func Micros(d time.Duration) float64 {
	return float64(d.Nanoseconds()/100) / 10
}

// Summarize gives n, p50/p90/p99/min/max/mean in µs and calls per second.
// Percentiles are nearest-rank.
func Summarize(lat []time.Duration, wall time.Duration) map[string]interface{} {
	sorted := append([]time.Duration(nil), lat...)
	sort.Slice(sorted, func(i, j int) bool { return sorted[i] < sorted[j] })
	pct := func(p float64) float64 {
		if len(sorted) == 0 {
			return 0
		}
		idx := int(p*float64(len(sorted))+0.999999) - 1
		if idx < 0 {
			idx = 0
		}
		if idx >= len(sorted) {
			idx = len(sorted) - 1
		}
		return Micros(sorted[idx])
	}
	var total time.Duration
	for _, d := range sorted {
		total += d
	}
	mean := 0.0
	if len(sorted) > 0 {
		mean = Micros(total / time.Duration(len(sorted)))
	}
	rate := 0.0
	if wall > 0 {
		rate = float64(len(sorted)) / wall.Seconds()
	}
	return map[string]interface{}{
		"n":           len(sorted),
		"p50_us":      pct(0.50),
		"p90_us":      pct(0.90),
		"p99_us":      pct(0.99),
		"min_us":      pct(0),
		"max_us":      pct(1),
		"mean_us":     mean,
		"wall_s":      wall.Seconds(),
		"calls_per_s": rate,
	}
}
