package wire

import "github.com/mpxdp/mpxdp/cksum"

// Mapping is one DSS mapping (RFC 8684 §3.3.1), from a DSS option or from
// the implicit mapping of an MP_CAPABLE with data.
type Mapping struct {
	DSN        uint64 // zero-extended when !DSN64: widen with ExpandSeq32
	DSN64      bool
	SubflowSeq uint32 // relative to the subflow ISN
	// DataLen is the data-level length, including the 1 of a DATA_FIN;
	// 0 is the infinite mapping.
	DataLen     uint16
	DataFIN     bool
	Checksum    uint16
	HasChecksum bool
	// FromMPCapable marks the mapping of an MP_CAPABLE with data: DSN is
	// IDSN(sender's key)+1 and the subflow sequence number 1 (INTEROP
	// A.1), not carried on the wire.
	FromMPCapable bool
}

// Mapping returns the mapping the segment carries: from a DSS with the M
// flag, or from an MP_CAPABLE with data (RFC 8684 §3.1: its data
// parameters are "semantically equivalent to those in a DSS option"),
// whose DSN it derives from the sender's key. ok is false when there is
// none.
func (o *Options) Mapping() (m Mapping, ok bool) {
	switch {
	case o.Has.Has(OptDSS) && o.DSS.HasMap():
		d := &o.DSS
		return Mapping{
			DSN: d.DSN, DSN64: d.Flags&DSSDSN64 != 0, SubflowSeq: d.SubflowSeq,
			DataLen: d.DataLen, DataFIN: d.DataFIN(),
			Checksum: d.Checksum, HasChecksum: d.HasChecksum,
		}, true
	case o.Has.Has(OptMPCapableData):
		c := &o.MPCapable
		return Mapping{
			DSN: IDSN(c.SenderKey) + 1, DSN64: true, SubflowSeq: 1,
			DataLen: c.DataLen, Checksum: c.Checksum, HasChecksum: c.HasChecksum,
			FromMPCapable: true,
		}, true
	}
	return Mapping{}, false
}

// DSSChecksum returns the DSS checksum of a mapping (RFC 8684 §3.3.1;
// INTEROP A.11): the complemented one's-complement sum of the pseudo-header
// (the full 64-bit DSN even when the option carries 32 bits, the relative
// subflow sequence number, the data-level length including a DATA_FIN's 1,
// and a zero checksum field) and the mapped payload. payload is the sum of
// the whole mapping — for a mapping spanning several segments, the
// segments' partials combined with cksum.CombineAt at their offsets in
// the mapping. An infinite mapping (dataLen 0) has checksum 0, as Linux
// writes.
func DSSChecksum(dsn uint64, ssn uint32, dataLen uint16, payload cksum.Partial) uint16 {
	if dataLen == 0 {
		return 0
	}
	return cksum.Combine(cksum.DSSPseudoHeader(dsn, ssn, dataLen), payload).Checksum()
}

// DSSChecksumOK reports whether the checksum carried with a mapping
// verifies: the pseudo-header with the received checksum plus the payload
// sums to 0xFFFF (RFC 8684 §3.3.1).
func DSSChecksumOK(dsn uint64, ssn uint32, dataLen, csum uint16, payload cksum.Partial) bool {
	s := cksum.Combine(cksum.DSSPseudoHeader(dsn, ssn, dataLen).Add16(csum), payload)
	return s.Fold() == 0xffff
}
