package nodecgroup

import (
	"fmt"
	"strconv"
	"strings"
)

// periodMicros is the CFS period every group uses: 100ms, as the kubelet does.
const periodMicros = 100_000

// minQuotaMicros is the smallest quota the kernel accepts (1ms).
const minQuotaMicros = 1_000

// quotaMicros is the CFS quota per period for milli-CPUs: 1000m is one CPU, a full period. Zero
// means no quota (-1 to the kernel).
func quotaMicros(milli int64) int64 {
	if milli <= 0 {
		return -1
	}
	return max(minQuotaMicros, milli*periodMicros/1000)
}

// effectiveMilli is the quota the kernel is given for milli-CPUs, in milli-CPUs: below 10m it is
// the 1ms minimum.
func effectiveMilli(milli int64) int64 {
	return quotaMilli(quotaMicros(milli), periodMicros)
}

// quotaMilli converts a quota and period back to milli-CPUs; a negative quota (none) is 0.
func quotaMilli(quota, period int64) int64 {
	if quota < 0 || period <= 0 {
		return 0
	}
	return quota * 1000 / period
}

// cpuMax is a cgroup v2 cpu.max value: "quota period", or "max period" for no quota.
func cpuMax(milli int64) string {
	q := quotaMicros(milli)
	if q < 0 {
		return "max " + strconv.Itoa(periodMicros)
	}
	return strconv.FormatInt(q, 10) + " " + strconv.Itoa(periodMicros)
}

// parseCPUMax reads a cgroup v2 cpu.max value back into milli-CPUs (0 for "max").
func parseCPUMax(s string) (int64, error) {
	f := strings.Fields(s)
	if len(f) != 2 {
		return 0, fmt.Errorf("cpu.max %q: want \"quota period\"", s)
	}
	period, err := strconv.ParseInt(f[1], 10, 64)
	if err != nil || period <= 0 {
		return 0, fmt.Errorf("cpu.max %q: period %q is not a positive number", s, f[1])
	}
	if f[0] == "max" {
		return 0, nil
	}
	quota, err := strconv.ParseInt(f[0], 10, 64)
	if err != nil || quota <= 0 {
		return 0, fmt.Errorf("cpu.max %q: quota %q is neither \"max\" nor a positive number", s, f[0])
	}
	return quotaMilli(quota, period), nil
}

// parseCPUStatUsage reads usage_usec from a cgroup v2 cpu.stat.
func parseCPUStatUsage(s string) (int64, error) {
	for line := range strings.Lines(s) {
		if k, v, ok := strings.Cut(strings.TrimSpace(line), " "); ok && k == "usage_usec" {
			n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
			if err != nil {
				return 0, fmt.Errorf("cpu.stat usage_usec %q: %w", v, err)
			}
			return n, nil
		}
	}
	return 0, fmt.Errorf("cpu.stat has no usage_usec line")
}
