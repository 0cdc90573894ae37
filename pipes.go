package mpxdp

import (
	"fmt"

	"github.com/mpxdp/mpxdp/dataplane/pipe"
)

// NewPipePair builds two stacks joined by in-memory paths (package
// dataplane/pipe): path i gives a the address 10.0.{i+1}.1 and b
// 10.0.{i+1}.2 unless the path names its own, and each direction may be
// impaired (rate, delay, queue, loss, reordering) in real time. The Link
// and Interfaces fields of a and b must be empty.
func NewPipePair(pc pipe.Config, a, b Config) (*Stack, *Stack, error) {
	if a.Link != nil || b.Link != nil || len(a.Interfaces)+len(b.Interfaces) > 0 {
		return nil, nil, fmt.Errorf("mpxdp: NewPipePair builds the links itself; leave Config.Link and Config.Interfaces empty")
	}
	la, lb, err := pipe.New(pc)
	if err != nil {
		return nil, nil, fmt.Errorf("mpxdp: %w", err)
	}
	a.Link, b.Link = la, lb
	sa, err := NewStack(a)
	if err != nil {
		lb.Close()
		return nil, nil, err
	}
	sb, err := NewStack(b)
	if err != nil {
		sa.Close()
		return nil, nil, err
	}
	return sa, sb, nil
}
