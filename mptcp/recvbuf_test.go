package mptcp

import (
	"testing"

	"github.com/mpxdp/mpxdp/ofo"
)

// TestRecvBufferInOrderWhenQueueFull: with the out-of-order queue full of
// small pieces beyond a hole, the bytes that fill the hole still commit
// and carry the in-order point over everything queued. Refusing them as
// "full" (the queue's answer) stalled the connection for good: the queue
// empties only from its left edge. Pieces as small as these come from
// segments cut into chains of buffers.
func TestRecvBufferInOrderWhenQueueFull(t *testing.T) {
	b := newRecvBuffer(1 << 16)
	b.start(1000, 64)
	var h ofo.Hint
	// Fill the queue: 64 one-byte pieces at 1010, 1012, ..., each alone.
	for i := 0; i < 64; i++ {
		var ok bool
		if h, ok, _ = b.commit(uint64(1010+2*i), 1, h); !ok {
			t.Fatalf("piece %d refused", i)
		}
	}
	if _, ok, full := b.commit(2000, 1, ofo.Hint{}); ok || !full {
		t.Fatalf("an out-of-order piece in a full queue: stored %v, full %v", ok, full)
	}
	// The hole [1000, 1010) and the first gap: in order, so they commit.
	if _, ok, _ := b.commit(1000, 10, ofo.Hint{}); !ok || b.nxt() != 1011 {
		t.Fatalf("in-order bytes with the queue full: stored %v, next %d, want 1011", ok, b.nxt())
	}
	if _, ok, _ := b.commit(1011, 1, ofo.Hint{}); !ok || b.nxt() != 1013 {
		t.Fatalf("next %d, want 1013", b.nxt())
	}
	// Overlapping in-order bytes that reach into the queued pieces.
	if _, ok, _ := b.commit(1005, 20, ofo.Hint{}); !ok || b.nxt() != 1025 {
		t.Fatalf("next %d, want 1025", b.nxt())
	}
	if got := b.q.Len(); got != 64-8 {
		t.Fatalf("%d pieces queued, want %d", got, 64-8)
	}
}
