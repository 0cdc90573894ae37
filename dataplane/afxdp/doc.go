// Package afxdp is the AF_XDP link.Link: it carries the shard's IP packets
// over AF_XDP sockets (package xsk) on one or more NICs.
//
// The contract:
//
//   - Sockets. One AF_XDP socket per NIC queue, all on one shared UMEM, so
//     that any frame can leave by any NIC. Each binds zero-copy when the
//     driver offers it and falls back to copy mode (veth is copy only).
//     Frames larger than a UMEM chunk (jumbo MTU) use multi-buffer
//     descriptor chains: a received chain is handed over in place, its
//     first frame from Receive and the others from Rest
//     (link.ChainReceiver), so that its payload is copied once, by the
//     engine; transmitted packets are written in place in runs of
//     consecutive chunks (xsk.UMEMConfig.Runs).
//   - Steering. One XDP filter per NIC (xsk.Filter, attached through a
//     bpf_link) redirects to the sockets only TCP to the Link's addresses
//     on ports the stack owns: the ephemeral range (claimed at Open) and
//     the ports claimed through link.PortOwner. Everything else (ARP, NDP,
//     ICMP, other TCP) goes to the kernel, which keeps answering ARP and
//     NDP for the addresses the stack uses.
//   - Layer 3 only above. Receive strips Ethernet (and one VLAN tag) and
//     hands IP packets; Transmit writes the Ethernet header for the
//     packet's next hop.
//   - Routes and neighbours come from the kernel's tables through
//     rtnetlink, cached per (source, destination) and per next hop, kept
//     current by change notifications, and resolved by the kernel itself
//     (NTF_USE) when unknown; packets wait for resolution in their frames.
//     For IPv6 the Link also sends a neighbour solicitation from the
//     waiting packet's source address, which the kernel cannot do for a
//     lookup without a packet while the NIC has no usable link-local
//     address.
//     Nothing is configured statically and nothing is asked per packet in
//     steady state.
//   - Ports. The stack's ephemeral range must be outside the kernel's
//     ip_local_port_range (or inside ip_local_reserved_ports); Open checks
//     it, so that the kernel never picks a port whose segments the filter
//     steals, nor answers the stack's segments with RSTs.
//   - Concurrency and allocation as link.Link says: one goroutine (the
//     shard) calls everything but Wake and Source; nothing allocates per
//     packet after Open.
//   - Errors. Set-up failures are *xsk.SetupError values naming the
//     system call and the fix.
package afxdp
