package data

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
)

// Sentinel errors; every error of this package wraps one of them.
var (
	// ErrEmpty: a file, folder or corpus with no usable text.
	ErrEmpty = errors.New("data: empty input")
	// ErrBinary: a file that is not text (NUL bytes or too many control bytes).
	ErrBinary = errors.New("data: binary input")
	// ErrTooLarge: input above MaxBytes.
	ErrTooLarge = errors.New("data: input too large")
	// ErrBadArgument: a parameter out of range (batch shape, shard count, …).
	ErrBadArgument = errors.New("data: bad argument")
	// ErrIO: the input could not be read.
	ErrIO = errors.New("data: read failed")
)

const (
	// MaxBytes bounds the text loaded from files or folders (1 GiB).
	MaxBytes = 1 << 30
	// PageSize is the unit of data assignment: the training stream is cut
	// into pages of this many bytes (the last may be shorter).
	PageSize = 4096
	// ValPercent is the share of the corpus held out for validation.
	ValPercent = 10
)

// Corpus is a byte corpus split deterministically into a training stream
// (the first 90%) and a validation stream (the last 10%). For the
// built-in synthetic corpus the split is by problem instead (see
// Synthetic), and ValProblems lists the held-out problems for the
// exact-match metric.
type Corpus struct {
	Name        string
	Train       []byte
	Val         []byte
	ValProblems []Problem // nil for text corpora
}

// Problem is one templated synthetic problem: the model reads Prompt and
// must produce Answer (which ends in '\n').
type Problem struct {
	Prompt, Answer string
}

// Text returns Prompt + Answer, the line as it appears in the corpus.
func (p Problem) Text() string { return p.Prompt + p.Answer }

// CheckText returns ErrBinary if b looks binary: any NUL byte, or more than
// 1% control bytes other than tab, newline, carriage return, form feed,
// vertical tab and escape. name is used in the message.
func CheckText(name string, b []byte) error {
	if len(b) == 0 {
		return fmt.Errorf("%w: %s has no bytes", ErrEmpty, name)
	}
	if i := bytes.IndexByte(b, 0); i >= 0 {
		return fmt.Errorf("%w: %s has a NUL byte at offset %d; only text files can be used as training data", ErrBinary, name, i)
	}
	ctl := 0
	for _, c := range b {
		if c < 0x20 && c != '\t' && c != '\n' && c != '\r' && c != '\f' && c != '\v' && c != 0x1b || c == 0x7f {
			ctl++
		}
	}
	if ctl*100 > len(b) {
		return fmt.Errorf("%w: %s has %d control bytes in %d; only text files can be used as training data", ErrBinary, name, ctl, len(b))
	}
	return nil
}

// FromBytes makes a corpus of text b (checked with CheckText) split 90/10.
func FromBytes(name string, b []byte) (*Corpus, error) {
	if err := CheckText(name, b); err != nil {
		return nil, err
	}
	if len(b) > MaxBytes {
		return nil, fmt.Errorf("%w: %s has %d bytes, limit %d", ErrTooLarge, name, len(b), MaxBytes)
	}
	if len(b) < 2*ValPercent {
		return nil, fmt.Errorf("%w: %s has only %d bytes, need at least %d for a train/validation split", ErrEmpty, name, len(b), 2*ValPercent)
	}
	cut := len(b) - len(b)*ValPercent/100
	return &Corpus{Name: name, Train: b[:cut], Val: b[cut:]}, nil
}

// Load reads a text file, or every regular file under a folder (walked in
// lexical order, skipping entries whose name starts with '.'; empty files
// are skipped, files are joined with a newline when one does not end in
// one), and splits the text 90/10. An empty or binary file is an error
// naming the file; a folder without text is an error naming the folder.
func Load(path string) (*Corpus, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrIO, err)
	}
	if !st.IsDir() {
		b, err := readFile(path)
		if err != nil {
			return nil, err
		}
		return FromBytes(path, b)
	}
	var all []byte
	files := 0
	err = filepath.WalkDir(path, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return fmt.Errorf("%w: %w", ErrIO, err)
		}
		if p != path && strings.HasPrefix(d.Name(), ".") {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		if !d.Type().IsRegular() {
			return nil
		}
		b, err := readFile(p)
		if err != nil {
			return err
		}
		if len(b) == 0 {
			return nil
		}
		if err := CheckText(p, b); err != nil {
			return err
		}
		if len(all)+len(b)+1 > MaxBytes {
			return fmt.Errorf("%w: %s holds more than %d bytes", ErrTooLarge, path, MaxBytes)
		}
		all = append(all, b...)
		if b[len(b)-1] != '\n' {
			all = append(all, '\n')
		}
		files++
		return nil
	})
	if err != nil {
		return nil, err
	}
	if files == 0 {
		return nil, fmt.Errorf("%w: folder %s has no non-empty text files", ErrEmpty, path)
	}
	return FromBytes(path, all)
}

func readFile(p string) ([]byte, error) {
	f, err := os.Open(p)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrIO, err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrIO, err)
	}
	if st.Size() > MaxBytes {
		return nil, fmt.Errorf("%w: %s has %d bytes, limit %d", ErrTooLarge, p, st.Size(), MaxBytes)
	}
	b, err := os.ReadFile(p)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrIO, err)
	}
	return b, nil
}

// NumPages is the number of pages of the training stream.
func (c *Corpus) NumPages() int { return (len(c.Train) + PageSize - 1) / PageSize }

// hash64 returns the first 8 bytes (little-endian) of SHA-256 of the parts,
// each prefixed with its length.
func hash64(parts ...[]byte) uint64 {
	h := sha256.New()
	var l [8]byte
	for _, p := range parts {
		binary.LittleEndian.PutUint64(l[:], uint64(len(p)))
		h.Write(l[:])
		h.Write(p)
	}
	var sum [32]byte
	h.Sum(sum[:0])
	return binary.LittleEndian.Uint64(sum[:8])
}

// ShardIndex is the shard of a worker key among n shards:
// u64le(SHA-256("gradientcoin/shard" ‖ key)[:8]) mod n.
func ShardIndex(key []byte, n int) (int, error) {
	if n < 1 {
		return 0, fmt.Errorf("%w: shard count %d < 1", ErrBadArgument, n)
	}
	return int(hash64([]byte("gradientcoin/shard"), key) % uint64(n)), nil
}

// Shard returns the pages of the training stream that belong to the worker
// with the given key when the data is split into n shards: the pages p with
// p mod n == ShardIndex(key, n). Workers whose keys fall in different
// shards train on disjoint data. It is an error if the shard is empty
// (more shards than pages).
func (c *Corpus) Shard(key []byte, n int) ([]int, error) {
	s, err := ShardIndex(key, n)
	if err != nil {
		return nil, err
	}
	var pages []int
	for p := s; p < c.NumPages(); p += n {
		pages = append(pages, p)
	}
	if len(pages) == 0 {
		return nil, fmt.Errorf("%w: shard %d of %d of %s is empty (%d pages)", ErrEmpty, s, n, c.Name, c.NumPages())
	}
	return pages, nil
}

// AssignPages returns k distinct page indices in [0, numPages) drawn
// deterministically from (seed, key): a partial Fisher–Yates shuffle
// driven by SHA-256("gradientcoin/pages" ‖ seed ‖ key ‖ counter). A
// validator can recompute which pages a worker was assigned in a round
// (seed = the round's seed) and compare its update's effect on them with
// its effect on random pages (unique-work checks). The result is in draw
// order and does not depend on the platform.
func AssignPages(seed, key []byte, numPages, k int) ([]int, error) {
	if numPages < 1 || k < 0 || k > numPages {
		return nil, fmt.Errorf("%w: cannot draw %d pages of %d", ErrBadArgument, k, numPages)
	}
	// Sparse Fisher–Yates: perm holds only the displaced entries.
	perm := make(map[int]int, 2*k)
	at := func(i int) int {
		if v, ok := perm[i]; ok {
			return v
		}
		return i
	}
	out := make([]int, k)
	var ctr [8]byte
	for i := 0; i < k; i++ {
		binary.LittleEndian.PutUint64(ctr[:], uint64(i))
		n := uint64(numPages - i)
		// Rejection sampling keeps the draw exactly uniform.
		limit := ^uint64(0) - (^uint64(0)%n+1)%n
		var r uint64
		for attempt := uint64(0); ; attempt++ {
			var a [8]byte
			binary.LittleEndian.PutUint64(a[:], attempt)
			r = hash64([]byte("gradientcoin/pages"), seed, key, ctr[:], a[:])
			if r <= limit {
				break
			}
		}
		j := i + int(r%n)
		vi, vj := at(i), at(j)
		perm[i], perm[j] = vj, vi
		out[i] = vj
	}
	return out, nil
}

// Batch is a batch of B sequences of T tokens: Inputs[b·T+t] is predicted
// to be followed by Targets[b·T+t]; a negative target is ignored.
type Batch struct {
	B, T    int
	Inputs  []int32
	Targets []int32
}

// Sampler draws training batches of random windows of a byte stream,
// optionally restricted to windows that start in a set of pages.
type Sampler struct {
	data  []byte
	pages []int
	b, t  int
}

// NewSampler returns a sampler of batches of b windows of t+1 bytes of
// data (inputs are the first t, targets the last t). pages, if not nil,
// restricts window starts to those pages of data (Shard, AssignPages).
func NewSampler(data []byte, pages []int, b, t int) (*Sampler, error) {
	if b < 1 || t < 1 {
		return nil, fmt.Errorf("%w: batch %d × %d", ErrBadArgument, b, t)
	}
	if len(data) < t+1 {
		return nil, fmt.Errorf("%w: %d bytes, need more than the window of %d", ErrEmpty, len(data), t+1)
	}
	np := (len(data) + PageSize - 1) / PageSize
	for _, p := range pages {
		if p < 0 || p >= np {
			return nil, fmt.Errorf("%w: page %d outside [0, %d)", ErrBadArgument, p, np)
		}
	}
	if pages != nil && len(pages) == 0 {
		return nil, fmt.Errorf("%w: empty page set", ErrEmpty)
	}
	return &Sampler{data: data, pages: pages, b: b, t: t}, nil
}

// Shape returns the batch shape.
func (s *Sampler) Shape() (b, t int) { return s.b, s.t }

// Next draws a batch using rng (deterministic given rng's state). Windows
// that would run past the end of the stream are moved back to fit.
func (s *Sampler) Next(rng *rand.Rand) Batch {
	bt := Batch{B: s.b, T: s.t, Inputs: make([]int32, s.b*s.t), Targets: make([]int32, s.b*s.t)}
	s.Fill(rng, &bt)
	return bt
}

// Fill is Next into an existing batch of the right shape (no allocation).
func (s *Sampler) Fill(rng *rand.Rand, bt *Batch) {
	last := len(s.data) - s.t - 1 // largest valid start
	for i := 0; i < s.b; i++ {
		var start int
		if s.pages == nil {
			start = rng.IntN(last + 1)
		} else {
			p := s.pages[rng.IntN(len(s.pages))]
			start = p*PageSize + rng.IntN(PageSize)
			if start > last {
				start = last
			}
		}
		w := s.data[start : start+s.t+1]
		for j := 0; j < s.t; j++ {
			bt.Inputs[i*s.t+j] = int32(w[j])
			bt.Targets[i*s.t+j] = int32(w[j+1])
		}
	}
}

// Windows cuts data into consecutive non-overlapping windows of t+1 bytes
// (overlapping by one: window i covers bytes [i·t, i·t+t]) and groups them
// in batches of b, for a deterministic evaluation pass. At most maxBatches
// batches are returned (≤ 0: all); a last partial batch is dropped.
func Windows(data []byte, b, t, maxBatches int) ([]Batch, error) {
	if b < 1 || t < 1 {
		return nil, fmt.Errorf("%w: batch %d × %d", ErrBadArgument, b, t)
	}
	n := (len(data) - 1) / t
	if n < b {
		return nil, fmt.Errorf("%w: %d bytes make %d windows of %d, need a batch of %d", ErrEmpty, len(data), n, t, b)
	}
	var out []Batch
	for k := 0; k+b <= n && (maxBatches <= 0 || len(out) < maxBatches); k += b {
		bt := Batch{B: b, T: t, Inputs: make([]int32, b*t), Targets: make([]int32, b*t)}
		for i := 0; i < b; i++ {
			w := data[(k+i)*t : (k+i)*t+t+1]
			for j := 0; j < t; j++ {
				bt.Inputs[i*t+j] = int32(w[j])
				bt.Targets[i*t+j] = int32(w[j+1])
			}
		}
		out = append(out, bt)
	}
	return out, nil
}
