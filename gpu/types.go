package gpu

import (
	"fmt"
	"time"
)

// DeviceInfo describes one CUDA device as the driver reports it.
type DeviceInfo struct {
	Ordinal  int    // device index for NewContext
	Name     string // e.g. "NVIDIA H100 80GB HBM3"
	Major    int    // compute capability, major
	Minor    int    // compute capability, minor
	TotalMem int64  // bytes of device memory
	SMs      int    // multiprocessor count
	ClockKHz int    // peak SM clock
	Driver   int    // CUDA driver API version, e.g. 12040 for 12.4
}

func (d DeviceInfo) String() string {
	return fmt.Sprintf("cuda:%d %s (sm_%d%d, %d SMs, %.1f GiB, driver %d.%d)",
		d.Ordinal, d.Name, d.Major, d.Minor, d.SMs, float64(d.TotalMem)/(1<<30),
		d.Driver/1000, d.Driver%1000/10)
}

// SearchOptions tune a Searcher. The zero value is valid: every zero field
// takes its default.
type SearchOptions struct {
	// MaxHits is the capacity of each launch's hit buffer (default 64, at
	// most 1<<20). More valid nonces than this in one launch sets
	// SearchResult.Overflow.
	MaxHits int
	// BatchTime is the target duration of one kernel launch (default 10ms,
	// at least 100µs). A search checks its stop channel and its hit count
	// between launches, so this bounds how long a stop takes.
	BatchTime time.Duration
	// BlockSize is the threads per block (default 256, a multiple of 32, at
	// most 256: the kernel's launch bound).
	BlockSize int
	// FindAll searches the whole range. By default a search ends after the
	// first launch that finds a valid nonce (with the launch queued after it).
	FindAll bool
	// Variant picks the kernel: VariantAuto (default) times both on the
	// device when the Searcher is made and keeps the faster.
	Variant KernelVariant
}

// KernelVariant is a version of the search kernel. Both compute the same
// thing; they differ in which pipe does the additions.
type KernelVariant int

const (
	// VariantAuto: time both variants on the device, use the faster.
	VariantAuto KernelVariant = iota
	// VariantALU: additions as IADD3 on the integer pipe (sha256d_search).
	VariantALU
	// VariantMAD: additions as IMAD on the FMA pipe (sha256d_search_mad),
	// leaving the integer pipe to the rotates and logic ops.
	VariantMAD
)

func (v KernelVariant) String() string {
	switch v {
	case VariantAuto:
		return "auto"
	case VariantALU:
		return "alu"
	case VariantMAD:
		return "mad"
	}
	return fmt.Sprintf("variant(%d)", int(v))
}

// Option limits and defaults.
const (
	DefaultMaxHits   = 64
	MaxMaxHits       = 1 << 20
	DefaultBatchTime = 10 * time.Millisecond
	MinBatchTime     = 100 * time.Microsecond
	DefaultBlockSize = 256
	maxBlockSize     = 256
	// MaxBatch is the most nonces one launch covers.
	MaxBatch = 1 << 31
	// firstBatch is the size of the first launch, before the rate is known.
	firstBatch = 1 << 22
)

// withDefaults validates o and fills in defaults.
func (o SearchOptions) withDefaults() (SearchOptions, error) {
	if o.MaxHits == 0 {
		o.MaxHits = DefaultMaxHits
	}
	if o.BatchTime == 0 {
		o.BatchTime = DefaultBatchTime
	}
	if o.BlockSize == 0 {
		o.BlockSize = DefaultBlockSize
	}
	switch {
	case o.MaxHits < 1 || o.MaxHits > MaxMaxHits:
		return o, invalid("MaxHits %d not in 1..%d", o.MaxHits, MaxMaxHits)
	case o.BatchTime < MinBatchTime:
		return o, invalid("BatchTime %v below %v", o.BatchTime, MinBatchTime)
	case o.BlockSize < 32 || o.BlockSize > maxBlockSize || o.BlockSize%32 != 0:
		return o, invalid("BlockSize %d: want a multiple of 32 in 32..%d", o.BlockSize, maxBlockSize)
	case o.Variant < VariantAuto || o.Variant > VariantMAD:
		return o, invalid("Variant %d", int(o.Variant))
	}
	return o, nil
}

// SearchResult is what one Search covered and found.
type SearchResult struct {
	// Hits are the valid nonces found, in search order (by distance from
	// the range start), at most MaxHits per launch.
	Hits []uint64
	// Searched is how many nonces, from the range start on, were tried.
	Searched uint64
	// Overflow: some launch found more than MaxHits valid nonces, so Hits
	// misses some.
	Overflow bool
	// Stopped: the search ended early because the stop channel closed.
	Stopped bool
	// Elapsed is the wall time of the search.
	Elapsed time.Duration
}

// Rate is the search rate in nonces per second.
func (r SearchResult) Rate() float64 {
	if r.Elapsed <= 0 {
		return 0
	}
	return float64(r.Searched) / r.Elapsed.Seconds()
}

// Dim3 is a CUDA grid or block shape.
type Dim3 struct{ X, Y, Z int }

// FuncAttribute is a kernel attribute (the driver's CUfunction_attribute).
type FuncAttribute int

// Kernel attributes used by the package (values are the driver's).
const (
	FuncAttrMaxThreadsPerBlock      FuncAttribute = 0
	FuncAttrSharedBytes             FuncAttribute = 1
	FuncAttrConstBytes              FuncAttribute = 2
	FuncAttrLocalBytes              FuncAttribute = 3
	FuncAttrNumRegs                 FuncAttribute = 4
	FuncAttrPTXVersion              FuncAttribute = 5
	FuncAttrBinaryVersion           FuncAttribute = 6
	FuncAttrMaxDynamicSharedBytes   FuncAttribute = 8
	FuncAttrPreferredSharedCarveout FuncAttribute = 9
)

// norm turns zero dimensions into 1.
func (d Dim3) norm() Dim3 {
	if d.X == 0 {
		d.X = 1
	}
	if d.Y == 0 {
		d.Y = 1
	}
	if d.Z == 0 {
		d.Z = 1
	}
	return d
}
