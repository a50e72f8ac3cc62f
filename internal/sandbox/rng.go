package sandbox

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"math/rand/v2"
	"strconv"
)

// gen is a deterministic generator for ids and secrets. ChaCha8 output is
// indistinguishable from random, so generated credentials look real while a
// seed still reproduces them exactly.
type gen struct {
	c *rand.ChaCha8
	r *rand.Rand
}

// newGen derives an independent stream per purpose, so that changing one
// upstream's size (say, VercelTokens) never shifts another upstream's data.
func newGen(seed int64, stream string) *gen {
	key := sha256.Sum256([]byte("tokens-sandbox/" + strconv.FormatInt(seed, 10) + "/" + stream))
	c := rand.NewChaCha8(key)
	return &gen{c: c, r: rand.New(c)}
}

func (g *gen) bytes(n int) []byte {
	b := make([]byte, n)
	_, _ = g.c.Read(b)
	return b
}

func (g *gen) intn(n int) int { return g.r.IntN(n) }

// between returns a uniform int64 in [lo, hi].
func (g *gen) between(lo, hi int64) int64 {
	if hi <= lo {
		return lo
	}
	return lo + g.r.Int64N(hi-lo+1)
}

func (g *gen) hex(nBytes int) string { return hex.EncodeToString(g.bytes(nBytes)) }

const base62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

func (g *gen) base62(n int) string {
	out := make([]byte, n)
	for i := range out {
		out[i] = base62[g.r.IntN(len(base62))]
	}
	return string(out)
}

func (g *gen) lower(n int) string {
	const alpha = "abcdefghijklmnopqrstuvwxyz0123456789"
	out := make([]byte, n)
	for i := range out {
		out[i] = alpha[g.r.IntN(len(alpha))]
	}
	return string(out)
}

func (g *gen) b64(nBytes int) string { return base64.RawStdEncoding.EncodeToString(g.bytes(nBytes)) }

func (g *gen) uuid() string {
	b := g.bytes(16)
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b)
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
}

func (g *gen) pick(list []string) string { return list[g.r.IntN(len(list))] }

func (g *gen) perm(n int) []int { return g.r.Perm(n) }
