package nodecgroup

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// parseCPUList parses the kernel's CPU list format ("0-1,4"; cpuset(7)) into sorted, distinct CPUs.
func parseCPUList(s string) ([]int, error) {
	s = strings.TrimSpace(s)
	var cpus []int
	if s == "" {
		return cpus, nil
	}
	for _, part := range strings.Split(s, ",") {
		lo, hi, isRange := strings.Cut(part, "-")
		first, err := strconv.Atoi(lo)
		if err != nil || first < 0 {
			return nil, fmt.Errorf("CPU list %q: %q is not a CPU number", s, lo)
		}
		last := first
		if isRange {
			last, err = strconv.Atoi(hi)
			if err != nil || last < first {
				return nil, fmt.Errorf("CPU list %q: %q is not a range low-high", s, part)
			}
		}
		for c := first; c <= last; c++ {
			cpus = append(cpus, c)
		}
	}
	slices.Sort(cpus)
	return slices.Compact(cpus), nil
}

// formatCPUList writes CPUs in the kernel's list format, ranges collapsed: [0 1 4] is "0-1,4".
func formatCPUList(cpus []int) string {
	sorted := slices.Compact(slices.Sorted(slices.Values(cpus)))
	var parts []string
	for i := 0; i < len(sorted); {
		j := i
		for j+1 < len(sorted) && sorted[j+1] == sorted[j]+1 {
			j++
		}
		if i == j {
			parts = append(parts, strconv.Itoa(sorted[i]))
		} else {
			parts = append(parts, strconv.Itoa(sorted[i])+"-"+strconv.Itoa(sorted[j]))
		}
		i = j + 1
	}
	return strings.Join(parts, ",")
}

// cpusFor is how many host CPUs a node of cpuMilli gets: ceil(cpuMilli/1000), at least one, at
// most the host's.
func cpusFor(cpuMilli int64, hostCPUs int) int {
	n := int((cpuMilli + 999) / 1000)
	return max(1, min(n, hostCPUs))
}

// assignCPUs picks n of the host's CPUs for a node. The CPUs the node already has (keep) stay
// while they are the host's, so a node's cpuset survives a restarted manager; the rest are the
// CPUs fewest other nodes use, lowest first, which hands out every free CPU before sharing any
// and then shares them round-robin.
func assignCPUs(host []int, others [][]int, keep []int, n int) []int {
	n = min(n, len(host))
	var chosen []int
	for _, c := range keep {
		if len(chosen) < n && slices.Contains(host, c) && !slices.Contains(chosen, c) {
			chosen = append(chosen, c)
		}
	}
	users := map[int]int{}
	for _, o := range others {
		for _, c := range o {
			users[c]++
		}
	}
	candidates := slices.Clone(host)
	slices.SortStableFunc(candidates, func(a, b int) int {
		if d := users[a] - users[b]; d != 0 {
			return d
		}
		return a - b
	})
	for _, c := range candidates {
		if len(chosen) >= n {
			break
		}
		if !slices.Contains(chosen, c) {
			chosen = append(chosen, c)
		}
	}
	slices.Sort(chosen)
	return chosen
}
