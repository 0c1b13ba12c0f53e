package wire

import (
	"sync"

	"github.com/klauspost/compress/zstd"
)

// Compression caps. Every payload on the wire is one single-segment zstd
// frame, which always declares its content size and whose window is that
// size. A frame is decoded only if the declared size is within the
// caller's limit and MaxFrame, and the decoder cannot write past the
// declared size (WithDecodeAllCapLimit), so the memory a frame can cost is
// bounded before decoding starts.
const (
	// MaxFrame is the largest payload one frame may decode to. Larger
	// objects (block bodies, contributions, checkpoints) travel as a
	// sequence of frames of at most MaxFrame bytes each.
	MaxFrame = 1 << 20
	// MaxWindow is the largest zstd window accepted (and used).
	MaxWindow = MaxFrame
)

// CompressBound is the largest compressed size accepted for a frame that
// decodes to at most n bytes: zstd never expands incompressible input by
// more than a block header per 128 KiB plus the frame header.
func CompressBound(n int) int { return n + n>>7 + 64 }

// Level is a compression level (zstd encoder speed).
type Level = zstd.EncoderLevel

// Levels offered by the codec.
const (
	LevelFastest = zstd.SpeedFastest
	LevelDefault = zstd.SpeedDefault
	LevelBetter  = zstd.SpeedBetterCompression
	LevelBest    = zstd.SpeedBestCompression
)

// DefaultLevel is the level for everything but weight snapshots, and
// SnapshotLevel the level for snapshot chunks. Chosen by measurement
// (p2p BenchmarkCodec, bench/results/net.txt, devnet payloads): compact
// blocks compress to 0.57/0.56/0.56/0.54 of raw at fastest/default/
// better/best, headers to 0.72/0.71/0.71/0.70, blocks carrying sketched
// contributions to 0.98/0.96/0.96/0.96 (the int8 sketch payload itself
// is incompressible: 1.003 at every level), while compression speed on
// compact blocks and headers halves from default to best. Weights
// (float32) do not compress at fastest/default (1.000) but do at
// better/best (0.93) at 370 vs 180 MB/s, so snapshots use better.
const (
	DefaultLevel  = LevelDefault
	SnapshotLevel = LevelBetter
)

// Codec compresses and decompresses payloads. It is safe for concurrent
// use; a process needs one per level.
type Codec struct {
	enc *zstd.Encoder
	dec *zstd.Decoder
}

// NewCodec returns a codec that compresses at level.
func NewCodec(level Level) (*Codec, error) {
	enc, err := zstd.NewWriter(nil,
		zstd.WithEncoderLevel(level),
		zstd.WithWindowSize(MaxWindow),
		zstd.WithEncoderConcurrency(2),
		zstd.WithEncoderCRC(false),   // payloads are verified by content hash
		zstd.WithZeroFrames(true),    // an empty payload is still one frame
		zstd.WithSingleSegment(true), // always declare the content size
	)
	if err != nil {
		return nil, err
	}
	dec, err := zstd.NewReader(nil,
		zstd.WithDecoderConcurrency(4),
		zstd.WithDecoderLowmem(true),
		zstd.WithDecoderMaxMemory(MaxFrame),
		zstd.WithDecoderMaxWindow(MaxWindow),
		zstd.WithDecodeAllCapLimit(true),
	)
	if err != nil {
		enc.Close()
		return nil, err
	}
	return &Codec{enc: enc, dec: dec}, nil
}

var defaultCodec = sync.OnceValue(func() *Codec {
	c, err := NewCodec(DefaultLevel)
	if err != nil {
		// Only option validation can fail, and the options are constant.
		panic("wire: default codec: " + err.Error())
	}
	return c
})

// DefaultCodec returns the process-wide codec at DefaultLevel.
func DefaultCodec() *Codec { return defaultCodec() }

// Compress appends one zstd frame holding raw to dst. raw must be at most
// MaxFrame bytes (larger payloads are chunked by WriteBlob); a larger one
// would be refused by every decoder.
func (c *Codec) Compress(dst, raw []byte) []byte { return c.enc.EncodeAll(raw, dst) }

// Decompress decodes one frame of at most limit bytes (limit is clamped
// to MaxFrame). It fails with ErrTooLarge when the compressed
// input or the declared content size exceeds its cap, and with
// ErrCompression for anything that is not exactly one well-formed frame
// that declares its size and decodes to it.
func (c *Codec) Decompress(src []byte, limit int) ([]byte, error) {
	if limit > MaxFrame || limit < 0 {
		limit = MaxFrame
	}
	if len(src) > CompressBound(limit) {
		return nil, errorf(ErrTooLarge, "compressed payload of %d bytes exceeds the bound %d for %d bytes", len(src), CompressBound(limit), limit)
	}
	var h zstd.Header
	if err := h.Decode(src); err != nil {
		return nil, wrapf(ErrCompression, err, "zstd frame header")
	}
	switch {
	case h.Skippable:
		return nil, errorf(ErrCompression, "skippable zstd frame")
	case !h.HasFCS:
		return nil, errorf(ErrCompression, "zstd frame without a content size")
	case h.FrameContentSize > uint64(limit):
		return nil, errorf(ErrTooLarge, "zstd frame declares %d bytes, limit %d", h.FrameContentSize, limit)
	case h.WindowSize > MaxWindow:
		return nil, errorf(ErrCompression, "zstd window %d above the limit %d", h.WindowSize, MaxWindow)
	case h.DictionaryID != 0:
		return nil, errorf(ErrCompression, "zstd frame needs dictionary %d", h.DictionaryID)
	}
	n := int(h.FrameContentSize)
	// The cap limit makes the decoder fail rather than grow dst: a frame
	// (or a second concatenated frame) cannot write past n bytes.
	out, err := c.dec.DecodeAll(src, make([]byte, 0, n))
	if err != nil {
		return nil, wrapf(ErrCompression, err, "zstd decode")
	}
	if len(out) != n {
		return nil, errorf(ErrCompression, "zstd frame decoded to %d bytes, declared %d", len(out), n)
	}
	return out, nil
}
