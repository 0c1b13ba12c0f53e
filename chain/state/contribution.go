package state

import (
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/binary"
	"fmt"

	"github.com/gradientcoin/gradientcoin/chain/sketch"
)

// Contribution is one worker's signed, sketched, quantized update for the
// round on top of block Parent.
//
// Canonical encoding (little-endian, fixed offsets):
//
//	off  size  field
//	  0     2  version (1)
//	  2    32  parent block hash
//	 34    32  contributor ed25519 public key
//	 66     1  sketch family
//	 67     1  quant bits
//	 68     4  rows (m)
//	 72     4  nnz
//	 76     4  topk
//	 80     4  quant block
//	 84     4  dim (d, the parameter count)
//	 88    32  sample digest (commits to the worker's training samples)
//	120     4  payload length L (must equal sketch.PayloadSize)
//	124     L  payload (sketch.Quantize format, canonical)
//	124+L  64  ed25519 signature over SigHash
//
// The decoder accepts exactly this form: no trailing bytes, no other
// version, a valid config, the exact payload length, a canonical payload.
type Contribution struct {
	Version      uint16
	Parent       [32]byte
	PubKey       [32]byte
	Sketch       sketch.Config
	Dim          int
	SampleDigest [32]byte
	Payload      []byte
	Signature    [64]byte
}

// Sizes of the encoding.
const (
	contributionHeader = 124
	contributionFixed  = contributionHeader + ed25519.SignatureSize // 188
)

// ContributionSize is the encoded size of a contribution with config cfg
// (0 for an invalid config).
func ContributionSize(cfg sketch.Config) int {
	p := sketch.PayloadSize(cfg)
	if p == 0 {
		return 0
	}
	return contributionFixed + p
}

// Domain-separation prefixes.
const (
	sigDomain  = "gradientcoin/contribution/sig/v1\x00"
	hashDomain = "gradientcoin/contribution/v1\x00"
)

func (c *Contribution) appendUnsigned(b []byte) []byte {
	b = binary.LittleEndian.AppendUint16(b, c.Version)
	b = append(b, c.Parent[:]...)
	b = append(b, c.PubKey[:]...)
	b = append(b, uint8(c.Sketch.Family), uint8(c.Sketch.QuantBits))
	b = binary.LittleEndian.AppendUint32(b, uint32(c.Sketch.Rows))
	b = binary.LittleEndian.AppendUint32(b, uint32(c.Sketch.NNZ))
	b = binary.LittleEndian.AppendUint32(b, uint32(c.Sketch.TopK))
	b = binary.LittleEndian.AppendUint32(b, uint32(c.Sketch.QuantBlock))
	b = binary.LittleEndian.AppendUint32(b, uint32(c.Dim))
	b = append(b, c.SampleDigest[:]...)
	b = binary.LittleEndian.AppendUint32(b, uint32(len(c.Payload)))
	return append(b, c.Payload...)
}

// Encode returns the canonical encoding. It does not validate (a
// contribution with out-of-range fields encodes to bytes that
// DecodeContribution rejects).
func (c *Contribution) Encode() []byte {
	b := make([]byte, 0, contributionFixed+len(c.Payload))
	b = c.appendUnsigned(b)
	return append(b, c.Signature[:]...)
}

// SigHash is the digest the contributor signs:
// SHA-256("gradientcoin/contribution/sig/v1" ‖ 0x00 ‖ encoding without the
// signature).
func (c *Contribution) SigHash() [32]byte {
	h := sha256.New()
	h.Write([]byte(sigDomain))
	h.Write(c.appendUnsigned(make([]byte, 0, contributionHeader+len(c.Payload))))
	var s [32]byte
	h.Sum(s[:0])
	return s
}

// Hash identifies the contribution, signature included:
// SHA-256("gradientcoin/contribution/v1" ‖ 0x00 ‖ Encode()).
func (c *Contribution) Hash() [32]byte {
	h := sha256.New()
	h.Write([]byte(hashDomain))
	h.Write(c.Encode())
	var s [32]byte
	h.Sum(s[:0])
	return s
}

// Sign sets PubKey to priv's public key and Signature to an ed25519
// signature of SigHash.
func (c *Contribution) Sign(priv ed25519.PrivateKey) error {
	if len(priv) != ed25519.PrivateKeySize {
		return errorf(ErrBadKey, "private key has %d bytes, want %d", len(priv), ed25519.PrivateKeySize)
	}
	copy(c.PubKey[:], priv.Public().(ed25519.PublicKey))
	h := c.SigHash()
	copy(c.Signature[:], ed25519.Sign(priv, h[:]))
	return nil
}

// VerifySignature checks the signature against PubKey.
func (c *Contribution) VerifySignature() error {
	h := c.SigHash()
	if !ed25519.Verify(c.PubKey[:], h[:], c.Signature[:]) {
		return errorf(ErrBadSignature, "signature by %x does not verify", c.PubKey[:8])
	}
	return nil
}

// DecodeContribution decodes a canonical encoding (see Contribution). Every
// length is checked against the input before anything is allocated; the
// payload is copied, so raw may be reused.
func DecodeContribution(raw []byte) (*Contribution, error) {
	if len(raw) < contributionFixed {
		return nil, errorf(ErrBadContribution, "%d bytes, shorter than the %d-byte minimum", len(raw), contributionFixed)
	}
	le := binary.LittleEndian
	c := &Contribution{Version: le.Uint16(raw[0:])}
	if c.Version != contributionVersion {
		return nil, errorf(ErrBadContribution, "unknown version %d (want %d)", c.Version, contributionVersion)
	}
	copy(c.Parent[:], raw[2:34])
	copy(c.PubKey[:], raw[34:66])
	c.Sketch = sketch.Config{
		Family:     sketch.Family(raw[66]),
		QuantBits:  int(raw[67]),
		Rows:       int(le.Uint32(raw[68:])),
		NNZ:        int(le.Uint32(raw[72:])),
		TopK:       int(le.Uint32(raw[76:])),
		QuantBlock: int(le.Uint32(raw[80:])),
	}
	dim := le.Uint32(raw[84:])
	copy(c.SampleDigest[:], raw[88:120])
	plen := le.Uint32(raw[120:])
	if err := c.Sketch.Validate(); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadContribution, err)
	}
	if dim < 1 || dim > sketch.MaxDim {
		return nil, errorf(ErrBadContribution, "dim %d out of range [1, %d]", dim, sketch.MaxDim)
	}
	c.Dim = int(dim)
	if err := c.Sketch.ValidateDim(c.Dim); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadContribution, err)
	}
	want := sketch.PayloadSize(c.Sketch)
	if uint64(plen) != uint64(want) {
		return nil, errorf(ErrBadContribution, "payload length %d, want %d for %s", plen, want, c.Sketch)
	}
	if total := uint64(contributionFixed) + uint64(plen); uint64(len(raw)) != total {
		if uint64(len(raw)) > total {
			return nil, errorf(ErrBadContribution, "%d trailing bytes", uint64(len(raw))-total)
		}
		return nil, errorf(ErrBadContribution, "truncated: %d bytes, want %d", len(raw), total)
	}
	payload := raw[contributionHeader : contributionHeader+int(plen)]
	if err := sketch.CheckPayload(c.Sketch, payload); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadContribution, err)
	}
	c.Payload = append([]byte(nil), payload...)
	copy(c.Signature[:], raw[contributionHeader+int(plen):])
	return c, nil
}

// CheckContribution runs every context-free check on an encoded
// contribution: size ≤ MaxContributionBytes, canonical decoding, sketch
// config and dimension equal to the rules, finite dequantized payload, valid
// signature. For the chunked top-k families the canonical form includes
// strictly increasing indices in every chunk, and ChunkTopK indices must
// name coordinates below d (sketch.CheckPayloadDim). The parent is checked
// by Apply (it needs the block).
func CheckContribution(r Rules, raw []byte) error {
	_, err := VerifyContribution(r, raw)
	return err
}

// VerifyContribution is CheckContribution returning the decoded contribution.
func VerifyContribution(r Rules, raw []byte) (*Contribution, error) {
	if err := r.Validate(); err != nil {
		return nil, err
	}
	return verifyContribution(r, raw, nil)
}

// verifyContribution assumes validated rules; scratch (length m or nil) is
// used to dequantize.
func verifyContribution(r Rules, raw []byte, scratch []float32) (*Contribution, error) {
	if len(raw) > r.MaxContributionBytes {
		return nil, errorf(ErrContributionTooLarge, "%d bytes, limit %d", len(raw), r.MaxContributionBytes)
	}
	c, err := DecodeContribution(raw)
	if err != nil {
		return nil, err
	}
	if c.Sketch != r.Sketch {
		return nil, errorf(ErrParamsMismatch, "sketch %s, rules want %s", c.Sketch, r.Sketch)
	}
	if d := r.Model.ParamCount(); c.Dim != d {
		return nil, errorf(ErrParamsMismatch, "dim %d, rules want %d", c.Dim, d)
	}
	if c.Sketch.Family.IsChunked() {
		// indices inside the dimension (the rest of the canonical form was
		// checked by DecodeContribution)
		if err := sketch.CheckPayloadDim(c.Sketch, c.Dim, c.Payload); err != nil {
			return nil, fmt.Errorf("%w: %w", ErrBadContribution, err)
		}
	}
	if scratch == nil {
		scratch = make([]float32, r.Sketch.Rows)
	}
	if err := sketch.Dequantize(c.Sketch, scratch, c.Payload); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadContribution, err)
	}
	if err := c.VerifySignature(); err != nil {
		return nil, err
	}
	return c, nil
}
