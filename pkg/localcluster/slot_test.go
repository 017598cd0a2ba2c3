package localcluster

import (
	"net/netip"
	"testing"
)

func TestNodeAddressing(t *testing.T) {
	tests := []struct {
		name                string
		slot, index         int
		wantIP, wantPodCIDR string
		wantIndexOfPodCIDR  int
	}{
		{name: "first node", slot: 1, index: 1, wantIP: "127.1.0.1", wantPodCIDR: "127.1.1.0/24", wantIndexOfPodCIDR: 1},
		{name: "last node", slot: 254, index: 254, wantIP: "127.254.0.254", wantPodCIDR: "127.254.254.0/24", wantIndexOfPodCIDR: 254},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := nodeIP(tc.slot, tc.index).String(); got != tc.wantIP {
				t.Errorf("nodeIP = %s, want %s", got, tc.wantIP)
			}
			cidr := nodePodCIDR(tc.slot, tc.index)
			if got := cidr.String(); got != tc.wantPodCIDR {
				t.Errorf("nodePodCIDR = %s, want %s", got, tc.wantPodCIDR)
			}
			if got := nodeIndexOf(tc.slot, cidr.String()); got != tc.wantIndexOfPodCIDR {
				t.Errorf("nodeIndexOf(%s) = %d, want %d", cidr, got, tc.wantIndexOfPodCIDR)
			}
			block := slotBlock(tc.slot)
			for _, addr := range []netip.Addr{nodeIP(tc.slot, tc.index), kwokFallbackNodeIP(tc.slot),
				kwokFallbackCIDR(tc.slot).Addr(), cidr.Addr()} {
				if !addr.IsLoopback() || !block.Contains(addr) {
					t.Errorf("%s is outside the loopback block %s", addr, block)
				}
			}
			if cidr.Overlaps(kwokFallbackCIDR(tc.slot)) || cidr.Contains(nodeIP(tc.slot, tc.index)) {
				t.Errorf("podCIDR %s overlaps KWOK's fallback %s or holds the node IP", cidr, kwokFallbackCIDR(tc.slot))
			}
		})
	}
}

func TestNodeIndexOfOtherCIDRs(t *testing.T) {
	tests := []struct {
		cidr string
		want int
	}{
		{cidr: "127.3.7.0/24", want: 7},
		{cidr: "127.4.7.0/24", want: 0},   // another cluster's
		{cidr: "127.3.255.0/24", want: 0}, // KWOK's fallback
		{cidr: "127.3.0.0/24", want: 0},   // the node IPs
		{cidr: "127.3.7.0/25", want: 0},
		{cidr: "10.0.0.0/24", want: 0},
		{cidr: "", want: 0},
		{cidr: "nonsense", want: 0},
	}
	for _, tc := range tests {
		t.Run(tc.cidr, func(t *testing.T) {
			if got := nodeIndexOf(3, tc.cidr); got != tc.want {
				t.Errorf("nodeIndexOf(3, %q) = %d, want %d", tc.cidr, got, tc.want)
			}
		})
	}
}

func TestLockSlotIsExclusive(t *testing.T) {
	first, f1, err := lockSlot()
	if err != nil {
		t.Fatal(err)
	}
	defer f1.Close()
	second, f2, err := lockSlot()
	if err != nil {
		t.Fatal(err)
	}
	defer f2.Close()
	if first == second {
		t.Errorf("two lockSlot calls both got slot %d", first)
	}
	for _, s := range []int{first, second} {
		if s < minSlot || s > maxSlot {
			t.Errorf("slot %d outside [%d, %d]", s, minSlot, maxSlot)
		}
	}
}
