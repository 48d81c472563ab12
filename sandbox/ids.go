package sandbox

import (
	"encoding/hex"
	"sync/atomic"
)

// stream is a lock-free deterministic pseudo-random sequence: its n-th draw
// is a hash of the seed, the stream's salt and n. Concurrent callers each
// get a distinct draw; the sequence as a whole depends only on the seed.
type stream struct {
	base uint64
	n    atomic.Uint64
}

func newStream(seed int64, salt uint64) *stream {
	return &stream{base: mix(uint64(seed) ^ mix(salt))}
}

func (s *stream) next() uint64 { return mix(s.base + s.n.Add(1)*0x9e3779b97f4a7c15) }

// float returns a draw in [0, 1).
func (s *stream) float() float64 { return float64(s.next()>>11) / (1 << 53) }

// uuid returns a draw formatted as a version-4 UUID.
func (s *stream) uuid() string {
	var b [16]byte
	hi, lo := s.next(), s.next()
	for i := range 8 {
		b[i] = byte(hi >> (56 - 8*i))
		b[8+i] = byte(lo >> (56 - 8*i))
	}
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	var out [36]byte
	hex.Encode(out[0:8], b[0:4])
	out[8] = '-'
	hex.Encode(out[9:13], b[4:6])
	out[13] = '-'
	hex.Encode(out[14:18], b[6:8])
	out[18] = '-'
	hex.Encode(out[19:23], b[8:10])
	out[23] = '-'
	hex.Encode(out[24:], b[10:])
	return string(out[:])
}

func (s *stream) reset() { s.n.Store(0) }

// mix is the splitmix64 finaliser.
func mix(x uint64) uint64 {
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	x ^= x >> 31
	return x
}

// Salts that keep the streams of one seed apart.
const (
	saltRequestID = iota + 1
	saltUploadID
	saltFault
	saltLost
	saltToken
	saltThen500
)
