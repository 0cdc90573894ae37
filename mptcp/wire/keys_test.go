package wire

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"math/rand/v2"
	"net/netip"
	"testing"
)

// TestKernelHMACSelfTest runs the vectors of Linux's KUnit test
// net/mptcp/crypto_test.c. The kernel test reads its 16-character key and
// 8-character message strings as raw bytes: key1 is the big-endian value of
// the first 8 characters, key2 of the last 8, and the message is the 8
// characters themselves.
func TestKernelHMACSelfTest(t *testing.T) {
	tests := []struct{ key, msg, result string }{
		{"0b0b0b0b0b0b0b0b", "48692054", "8385e24fb4235ac37556b6b886db106284a1da671699f46db1f235ec622dcafa"},
		{"aaaaaaaaaaaaaaaa", "dddddddd", "2c5e219164ff1dca1c4a92318d847bb6b9d44492984e1eb71aff9022f71046e9"},
		{"0102030405060708", "cdcdcdcd", "e73b9ba9969969cefb04aa0d6df18ec2fcc075b6f23b4d8c4da736a5dbbc6e7d"},
	}
	for _, tt := range tests {
		key1 := binary.BigEndian.Uint64([]byte(tt.key[:8]))
		key2 := binary.BigEndian.Uint64([]byte(tt.key[8:]))
		got := HMACSHA256(key1, key2, []byte(tt.msg))
		if hex.EncodeToString(got[:]) != tt.result {
			t.Errorf("key %q msg %q: %x, kernel expects %s", tt.key, tt.msg, got, tt.result)
		}
		// The same vector through the MP_JOIN helper: the message is the
		// two nonces.
		n1 := binary.BigEndian.Uint32([]byte(tt.msg[:4]))
		n2 := binary.BigEndian.Uint32([]byte(tt.msg[4:]))
		if h := JoinHMAC160(key1, key2, n1, n2); hex.EncodeToString(h[:]) != tt.result[:40] {
			t.Errorf("JoinHMAC160 %x", h)
		}
		if h := JoinHMAC64(key1, key2, n1, n2); h != binary.BigEndian.Uint64(got[:8]) {
			t.Errorf("JoinHMAC64 %x", h)
		}
	}
}

// TestTokenIDSN checks the token and IDSN of the server key measured in
// INTEROP A.10 (7474274384433719489 → token 2599707687, IDSN
// 16928242982300002382).
func TestTokenIDSN(t *testing.T) {
	const key = 7474274384433719489
	tok, idsn := TokenAndIDSN(key)
	if tok != 2599707687 || idsn != 16928242982300002382 {
		t.Errorf("TokenAndIDSN = %d, %d", tok, idsn)
	}
	if Token(key) != tok || IDSN(key) != idsn {
		t.Error("Token/IDSN disagree with TokenAndIDSN")
	}
	var k [8]byte
	binary.BigEndian.PutUint64(k[:], key)
	d := sha256.Sum256(k[:])
	if binary.BigEndian.Uint32(d[:4]) != tok || binary.BigEndian.Uint64(d[24:]) != idsn {
		t.Error("not the first 32 and last 64 bits of SHA-256")
	}
}

// TestHMACMatchesCryptoHMAC compares the stack-array HMAC with crypto/hmac
// on seeded random keys and messages of every length 0..100 (both paths).
func TestHMACMatchesCryptoHMAC(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	msg := make([]byte, 100)
	for n := 0; n <= len(msg); n++ {
		for range 4 {
			k1, k2 := rng.Uint64(), rng.Uint64()
			for i := range msg[:n] {
				msg[i] = byte(rng.Uint32())
			}
			var key [16]byte
			binary.BigEndian.PutUint64(key[:], k1)
			binary.BigEndian.PutUint64(key[8:], k2)
			m := hmac.New(sha256.New, key[:])
			m.Write(msg[:n])
			got := HMACSHA256(k1, k2, msg[:n])
			if want := m.Sum(nil); !hmac.Equal(got[:], want) {
				t.Fatalf("len %d: %x, crypto/hmac %x", n, got, want)
			}
		}
	}
}

// TestAddAddrHMAC checks the message layout: ID, address, port (zero when
// absent), and the rightmost 64 bits.
func TestAddAddrHMAC(t *testing.T) {
	for _, tt := range []struct {
		addr netip.Addr
		port uint16
		msg  string
	}{
		{netip.MustParseAddr("10.0.2.1"), 0, "07 0a000201 0000"},
		{netip.MustParseAddr("10.0.1.1"), 10100, "07 0a000101 2774"},
		{netip.MustParseAddr("fd00:2::1"), 443, "07 fd000002000000000000000000000001 01bb"},
	} {
		full := HMACSHA256(keyA, keyB, mustHex(t, tt.msg))
		if got := AddAddrHMAC(keyA, keyB, 7, tt.addr, tt.port); got != binary.BigEndian.Uint64(full[24:]) {
			t.Errorf("%v port %d: %x", tt.addr, tt.port, got)
		}
	}
}

// seqSource replays fixed values, then counts up.
type seqSource struct {
	vals []uint64
	next uint64
}

func (s *seqSource) Uint64() uint64 {
	if len(s.vals) > 0 {
		v := s.vals[0]
		s.vals = s.vals[1:]
		return v
	}
	s.next++
	return s.next
}

func TestGenerateKey(t *testing.T) {
	// Zero keys are skipped; a token in use is skipped.
	src := &seqSource{vals: []uint64{0, keyA, keyB}}
	used := Token(keyA)
	key, tok, _, ok := GenerateKey(src, func(t uint32) bool { return t == used })
	if !ok || key != keyB || tok != Token(keyB) {
		t.Errorf("GenerateKey = %x, %d, %v", key, tok, ok)
	}
	// A seeded PCG source and a token table: all tokens distinct.
	rng := rand.NewPCG(5, 6)
	seen := map[uint32]bool{}
	for range 1000 {
		key, tok, _, ok := GenerateKey(rng, func(t uint32) bool { return seen[t] })
		if !ok || key == 0 || seen[tok] || tok != Token(key) {
			t.Fatalf("GenerateKey = %x, %d, %v", key, tok, ok)
		}
		seen[tok] = true
	}
	if _, _, _, ok := GenerateKey(rng, nil); !ok {
		t.Error("nil predicate")
	}
	if _, _, _, ok := GenerateKey(rng, func(uint32) bool { return true }); ok {
		t.Error("every token in use, yet a key")
	}
}

// expandRef is Linux's __mptcp_expand_seq written from its description,
// as an oracle.
func expandRef(old uint64, cur32 uint32) uint64 {
	old32 := uint32(old)
	cur := old&0xffffffff00000000 + uint64(cur32)
	before := func(a, b uint32) bool { return int32(a-b) < 0 }
	if cur32 < old32 && before(old32, cur32) {
		return cur + 1<<32
	}
	if cur32 > old32 && before(cur32, old32) {
		return cur - 1<<32
	}
	return cur
}

func TestExpandSeq32(t *testing.T) {
	tests := []struct {
		ref  uint64
		v    uint32
		want uint64
	}{
		{0x5_0000_0010, 0x20, 0x5_0000_0020},
		{0x5_0000_0010, 0x08, 0x5_0000_0008},
		{0x5_ffff_fff0, 0x10, 0x6_0000_0010},        // forward across the wrap
		{0x6_0000_0010, 0xffff_fff0, 0x5_ffff_fff0}, // backward across the wrap
		{0x5_0000_0000, 0x8000_0000, 0x4_8000_0000}, // exactly 2^31 above: backward (kernel)
		{0x5_8000_0000, 0x0000_0000, 0x6_0000_0000}, // exactly 2^31 below: forward (kernel)
		{0xffff_ffff_ffff_fff0, 0x10, 0x10},         // 64-bit wrap
		{0x10, 0xffff_fff0, 0xffff_ffff_ffff_fff0},
	}
	for _, tt := range tests {
		if got := ExpandSeq32(tt.ref, tt.v); got != tt.want {
			t.Errorf("ExpandSeq32(%#x, %#x) = %#x, want %#x", tt.ref, tt.v, got, tt.want)
		}
	}
	rng := rand.New(rand.NewPCG(7, 8))
	for range 100000 {
		ref := rng.Uint64()
		v := uint32(ref) + uint32(rng.IntN(1<<20)) - 1<<19 // near the reference
		if rng.IntN(4) == 0 {
			v = rng.Uint32()
		}
		if got, want := ExpandSeq32(ref, v), expandRef(ref, v); got != want {
			t.Fatalf("ExpandSeq32(%#x, %#x) = %#x, kernel %#x", ref, v, got, want)
		}
		if d := int64(ExpandSeq32(ref, v) - ref); d < -1<<31 || d > 1<<31 {
			t.Fatalf("ExpandSeq32(%#x, %#x) is %d away", ref, v, d)
		}
	}
}

func BenchmarkJoinHMAC160(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		JoinHMAC160(keyA, keyB, 1, 2)
	}
}
