package wire

import (
	"crypto/sha256"
	"math/rand/v2"
	"net/netip"
)

// TokenAndIDSN derives the token and the initial data sequence number from
// a 64-bit MPTCP key (RFC 8684 §3.1, §3.2; INTEROP A.10): the key is hashed
// with SHA-256 as 8 big-endian bytes; the token is the most significant 32
// bits of the digest, the IDSN the least significant 64 bits. The first
// data byte a host sends has DSN IDSN+1.
func TokenAndIDSN(key uint64) (token uint32, idsn uint64) {
	var k [8]byte
	put64(k[:], key)
	d := sha256.Sum256(k[:])
	return be32(d[0:]), be64(d[24:])
}

// Token returns the token of a key (see TokenAndIDSN).
func Token(key uint64) uint32 {
	t, _ := TokenAndIDSN(key)
	return t
}

// IDSN returns the initial data sequence number of a key (see
// TokenAndIDSN).
func IDSN(key uint64) uint64 {
	_, i := TokenAndIDSN(key)
	return i
}

// hmac block layout: the 16-byte key KeyX||KeyY zero-padded to the 64-byte
// SHA-256 block (RFC 2104).
const (
	hmacBlock  = 64
	hmacMaxMsg = 64 // the fast path's message bound; MPTCP needs at most 19
)

// HMACSHA256 returns HMAC-SHA256 (RFC 2104) with the 16-byte key
// keyX||keyY (each big-endian) over msg, as Linux's mptcp_crypto_hmac_sha
// does. For messages up to 64 bytes (every MPTCP use: 8 for MP_JOIN, at
// most 19 for ADD_ADDR) it works on stack arrays and does not allocate.
func HMACSHA256(keyX, keyY uint64, msg []byte) [32]byte {
	var key [hmacBlock]byte
	put64(key[0:], keyX)
	put64(key[8:], keyY)
	if len(msg) > hmacMaxMsg {
		return hmacLong(&key, msg)
	}
	var in [hmacBlock + hmacMaxMsg]byte
	for i := range hmacBlock {
		in[i] = key[i] ^ 0x36
	}
	copy(in[hmacBlock:], msg)
	inner := sha256.Sum256(in[:hmacBlock+len(msg)])
	var out [hmacBlock + sha256.Size]byte
	for i := range hmacBlock {
		out[i] = key[i] ^ 0x5c
	}
	copy(out[hmacBlock:], inner[:])
	return sha256.Sum256(out[:])
}

// hmacLong is the streaming form for messages longer than hmacMaxMsg (not
// used by MPTCP; it may allocate).
func hmacLong(key *[hmacBlock]byte, msg []byte) [32]byte {
	var pad [hmacBlock]byte
	for i := range pad {
		pad[i] = key[i] ^ 0x36
	}
	h := sha256.New()
	h.Write(pad[:])
	h.Write(msg)
	var inner [sha256.Size]byte
	h.Sum(inner[:0])
	for i := range pad {
		pad[i] = key[i] ^ 0x5c
	}
	h.Reset()
	h.Write(pad[:])
	h.Write(inner[:])
	var out [sha256.Size]byte
	h.Sum(out[:0])
	return out
}

// joinHMAC computes the MP_JOIN HMAC: key = sender's key || receiver's key,
// message = sender's nonce || receiver's nonce (RFC 8684 §3.2; INTEROP
// A.10: the key and nonce of the host sending the HMAC come first).
func joinHMAC(senderKey, receiverKey uint64, senderNonce, receiverNonce uint32) [32]byte {
	var msg [8]byte
	put32(msg[0:], senderNonce)
	put32(msg[4:], receiverNonce)
	return HMACSHA256(senderKey, receiverKey, msg[:])
}

// JoinHMAC64 returns the truncated HMAC of the MP_JOIN SYN/ACK, sent by
// the host B that received the MP_JOIN SYN: the leftmost 64 bits of
// HMAC(Key=KeyB||KeyA, Msg=R_B||R_A). Call it with senderKey = KeyB,
// receiverKey = KeyA, senderNonce = R_B, receiverNonce = R_A (RFC 8684
// §3.2).
func JoinHMAC64(senderKey, receiverKey uint64, senderNonce, receiverNonce uint32) uint64 {
	d := joinHMAC(senderKey, receiverKey, senderNonce, receiverNonce)
	return be64(d[:joinTruncHMACBytes])
}

// JoinHMAC160 returns the HMAC of the MP_JOIN third ACK, sent by the host A
// that sent the MP_JOIN SYN: the leftmost 160 bits of
// HMAC(Key=KeyA||KeyB, Msg=R_A||R_B). Call it with senderKey = KeyA,
// receiverKey = KeyB, senderNonce = R_A, receiverNonce = R_B (RFC 8684
// §3.2).
func JoinHMAC160(senderKey, receiverKey uint64, senderNonce, receiverNonce uint32) [20]byte {
	d := joinHMAC(senderKey, receiverKey, senderNonce, receiverNonce)
	return [20]byte(d[:joinHMACLen])
}

// AddAddrHMAC returns the truncated HMAC of an ADD_ADDR (RFC 8684 §3.4.1;
// INTEROP A.10): the rightmost 64 bits of HMAC(Key=Ksender||Kreceiver,
// Msg=address ID || address (4 or 16 bytes) || port (2 bytes, 0 when the
// option has no port)). The sender is the host that announces the address.
func AddAddrHMAC(senderKey, receiverKey uint64, id uint8, addr netip.Addr, port uint16) uint64 {
	var msg [1 + 16 + 2]byte
	msg[0] = id
	n := 1 + putAddr(msg[1:], addr)
	put16(msg[n:], port)
	d := HMACSHA256(senderKey, receiverKey, msg[:n+2])
	return be64(d[sha256.Size-8:])
}

// MaxKeyAttempts bounds how many keys GenerateKey draws before it gives
// up (Linux retries a few times too, mptcp_token_new_connect).
const MaxKeyAttempts = 64

// GenerateKey draws a non-zero 64-bit key from r whose token is not in use
// (inUse may be nil when no connection exists), so that tokens are unique
// on this host (RFC 8684 §3.1: "the token MUST be unique"). It returns the
// key, its token, its initial data sequence number (one hash gives both)
// and true, or false when MaxKeyAttempts draws all collided. r is
// crypto-grade in production (a crypto/rand-backed Source) and a seeded
// generator in tests.
func GenerateKey(r rand.Source, inUse func(token uint32) bool) (key uint64, token uint32, idsn uint64, ok bool) {
	for range MaxKeyAttempts {
		key = r.Uint64()
		if key == 0 {
			continue
		}
		token, idsn = TokenAndIDSN(key) // one SHA-256 gives both
		if inUse == nil || !inUse(token) {
			return key, token, idsn, true
		}
	}
	return 0, 0, 0, false
}

// ExpandSeq32 widens a 32-bit data sequence number or DATA_ACK v to the
// 64-bit value nearest the reference ref (the current DATA_ACK or the
// oldest unacknowledged DSN), wrapping in both directions as Linux's
// __mptcp_expand_seq does (RFC 8684 §3.3; INTEROP A.12). At a distance of
// exactly 2^31 it resolves as the kernel does: forward when the low 32 bits
// of v are below those of ref, backward otherwise.
func ExpandSeq32(ref uint64, v uint32) uint64 {
	old := uint32(ref)
	cur := ref&^0xffffffff | uint64(v)
	switch {
	case v < old && int32(old-v) < 0:
		return cur + 1<<32
	case v > old && int32(v-old) < 0:
		return cur - 1<<32
	}
	return cur
}
