package tcp

// Seq is a 32-bit TCP sequence number with modular comparisons (RFC 9293
// §3.4: comparisons are modulo 2^32 and valid for distances below 2^31).
type Seq uint32

// Add returns s advanced by n bytes.
func (s Seq) Add(n int) Seq { return s + Seq(uint32(n)) }

// Sub returns the signed distance s − t.
func (s Seq) Sub(t Seq) int { return int(int32(s - t)) }

// LT reports s < t.
func (s Seq) LT(t Seq) bool { return int32(s-t) < 0 }

// LEQ reports s ≤ t.
func (s Seq) LEQ(t Seq) bool { return int32(s-t) <= 0 }

// GT reports s > t.
func (s Seq) GT(t Seq) bool { return int32(s-t) > 0 }

// GEQ reports s ≥ t.
func (s Seq) GEQ(t Seq) bool { return int32(s-t) >= 0 }

// InRange reports lo ≤ s < hi.
func (s Seq) InRange(lo, hi Seq) bool { return s.GEQ(lo) && s.LT(hi) }
