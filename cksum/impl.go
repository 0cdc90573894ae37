package cksum

import "errors"

// An implementation sums little-endian 64-bit words (the byte-order
// independent form of RFC 1071 §2(B)); sumLE converts the result to the
// big-endian convention of [Partial]. Inputs are at most maxChunk bytes.
type implementation struct {
	name    string
	sum     func(b []byte) uint64
	copySum func(dst, src []byte) uint64 // len(dst) == len(src)
}

var (
	reference = implementation{"reference", sumReferenceLE, copySumReference}
	generic   = implementation{"generic", sumGeneric, copySumGeneric}
)

// available lists every implementation this CPU can run, slowest first. It
// is fixed at start-up.
var available = append([]implementation{reference, generic}, archImplementations()...)

// active is the implementation in use: the last (fastest) available one.
var active = available[len(available)-1]

func init() { archSelected() }

// ErrUnknownImplementation is returned by [Use] for a name that is not in
// [Implementations].
var ErrUnknownImplementation = errors.New("cksum: unknown or unsupported implementation")

// Implementations returns the names of the implementations this CPU can
// run, from the plain reference loop to the fastest, which is the default.
func Implementations() []string {
	names := make([]string, len(available))
	for i, im := range available {
		names[i] = im.name
	}
	return names
}

// Active returns the name of the implementation in use.
func Active() string { return active.name }

// Use forces the named implementation and returns a function that restores
// the previous one. It is for tests and benchmarks: it is not safe to call
// while other goroutines compute checksums.
func Use(name string) (restore func(), err error) {
	for _, im := range available {
		if im.name == name {
			prev := active
			active = im
			archSelected()
			return func() { active = prev; archSelected() }, nil
		}
	}
	return nil, ErrUnknownImplementation
}
