package localcluster

import (
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"syscall"
)

// Loopback addressing. Every cluster owns one block 127.<slot>.0.0/16; Linux routes all of
// 127.0.0.0/8 to the loopback interface, so a test can bind a real server (PostgreSQL, say) to
// a pod's IP and reach it there.
//
//	node i (1..254)   InternalIP 127.<slot>.0.<i>, spec.podCIDR 127.<slot>.<i>.0/24
//	KWOK fallbacks    --node-ip 127.<slot>.0.255, --cidr 127.<slot>.255.0/24 (for a node
//	                  that has no address or podCIDR of its own; nodes from AddNodes always do)
//
// The slot is chosen by taking an exclusive flock on <os.TempDir()>/likewise-localcluster/
// slot-<n>.lock, lowest free n first. The cluster's processes inherit the locked descriptor,
// so the slot stays taken while any of them runs (a detached cluster included) and becomes
// free when the last one exits, however it exits. Two clusters on one machine, such as those
// of test packages that `go test` runs in parallel, never hand out the same pod IP.
const (
	minSlot  = 1 // 127.0.0.0/16 holds 127.0.0.1, which the control plane listens on
	maxSlot  = 254
	maxNodes = 254

	// bindAddress is the one address every component listens on and every client dials.
	bindAddress = "127.0.0.1"
)

// slotLockDir holds the slot lock files.
func slotLockDir() string { return filepath.Join(os.TempDir(), "likewise-localcluster") }

// lockSlot takes the lowest free slot. The returned file holds the lock until it and every
// inherited copy are closed.
func lockSlot() (int, *os.File, error) {
	dir := slotLockDir()
	if err := os.MkdirAll(dir, 0o777); err != nil {
		return 0, nil, fmt.Errorf("loopback slot locks: %w", err)
	}
	for slot := minSlot; slot <= maxSlot; slot++ {
		path := filepath.Join(dir, fmt.Sprintf("slot-%03d.lock", slot))
		f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o666)
		if err != nil {
			return 0, nil, fmt.Errorf("loopback slot lock %s: %w", path, err)
		}
		err = syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			return slot, f, nil
		}
		f.Close()
		if !errors.Is(err, syscall.EWOULDBLOCK) {
			return 0, nil, fmt.Errorf("loopback slot lock %s: %w", path, err)
		}
	}
	return 0, nil, fmt.Errorf("all %d loopback slots are taken (locks in %s): too many local clusters are running", maxSlot-minSlot+1, dir)
}

// slotBlock is the cluster's 127.<slot>.0.0/16.
func slotBlock(slot int) netip.Prefix {
	return netip.PrefixFrom(netip.AddrFrom4([4]byte{127, byte(slot), 0, 0}), 16)
}

// nodeIP is the InternalIP of node index i.
func nodeIP(slot, i int) netip.Addr { return netip.AddrFrom4([4]byte{127, byte(slot), 0, byte(i)}) }

// nodePodCIDR is the podCIDR of node index i.
func nodePodCIDR(slot, i int) netip.Prefix {
	return netip.PrefixFrom(netip.AddrFrom4([4]byte{127, byte(slot), byte(i), 0}), 24)
}

// nodeIndexOf returns the node index whose podCIDR is cidr in this slot, or 0.
func nodeIndexOf(slot int, cidr string) int {
	p, err := netip.ParsePrefix(cidr)
	if err != nil || p.Bits() != 24 || !p.Addr().Is4() {
		return 0
	}
	b := p.Addr().As4()
	if b[0] != 127 || int(b[1]) != slot || b[2] < 1 || int(b[2]) > maxNodes || b[3] != 0 {
		return 0
	}
	return int(b[2])
}

// kwokFallbackNodeIP and kwokFallbackCIDR are KWOK's --node-ip and --cidr: loopback, in the
// cluster's block, and outside every node's own range.
func kwokFallbackNodeIP(slot int) netip.Addr {
	return netip.AddrFrom4([4]byte{127, byte(slot), 0, 255})
}

func kwokFallbackCIDR(slot int) netip.Prefix {
	return netip.PrefixFrom(netip.AddrFrom4([4]byte{127, byte(slot), 255, 0}), 24)
}
