package tcp

import (
	"crypto/sha256"
	"encoding/binary"
	"math/rand/v2"
	"net/netip"
	"time"
)

// ISNGenerator chooses initial sequence numbers as RFC 6528 §3 specifies:
// ISN = M + F(local, remote, secret), where M is a 4-microsecond timer and
// F a keyed hash (SHA-256 here) of the connection's addresses and ports
// with a secret drawn once from the injected random source.
type ISNGenerator struct {
	secret [16]byte
	base   time.Duration // added to now for M and the timestamp clock
}

// NewISNGenerator draws the secret from r.
func NewISNGenerator(r rand.Source) *ISNGenerator {
	g := &ISNGenerator{}
	binary.LittleEndian.PutUint64(g.secret[0:], r.Uint64())
	binary.LittleEndian.PutUint64(g.secret[8:], r.Uint64())
	return g
}

// NewISNGeneratorKeyed uses a given secret, and counts the ISN timer and
// the timestamp clock from base + now. Processes of one host that share
// the secret and count from one origin (the boot, as the kernel does)
// produce one increasing sequence per 4-tuple: a SYN from a new process
// is newer than the last segment a peer in TIME-WAIT saw from an old one.
func NewISNGeneratorKeyed(secret [16]byte, base time.Duration) *ISNGenerator {
	return &ISNGenerator{secret: secret, base: base}
}

// ISN returns the initial sequence number for a connection at time now.
func (g *ISNGenerator) ISN(now time.Duration, local, remote netip.AddrPort) Seq {
	isn, _ := g.Initial(now, local, remote)
	return isn
}

// Initial returns the ISN and the timestamp offset of a connection at time
// now, both from one keyed hash of its addresses and ports. The offset
// hides the host's clock from other connections (RFC 7323 §7.1) yet stays
// the same for every incarnation of a 4-tuple, so that a new SYN's TSval
// is newer than the last one the peer saw: Linux accepts a SYN for a
// connection in TIME-WAIT only then (PAWS, RFC 7323 §5), and answers an
// older one with an ACK, which costs the client a RST and a SYN timeout.
func (g *ISNGenerator) Initial(now time.Duration, local, remote netip.AddrPort) (isn Seq, tsOffset uint32) {
	var msg [16 + 2*18]byte
	copy(msg[:16], g.secret[:])
	la, ra := local.Addr().As16(), remote.Addr().As16()
	copy(msg[16:], la[:])
	binary.BigEndian.PutUint16(msg[32:], local.Port())
	copy(msg[34:], ra[:])
	binary.BigEndian.PutUint16(msg[50:], remote.Port())
	h := sha256.Sum256(msg[:])
	// The connection stamps uint32(now/ms) + tsOffset: the base goes into
	// the offset (within a millisecond of counting from base + now).
	return Seq(uint32((g.base+now)/(4*time.Microsecond)) + binary.BigEndian.Uint32(h[:4])),
		binary.BigEndian.Uint32(h[4:8]) + uint32(g.base/time.Millisecond)
}
