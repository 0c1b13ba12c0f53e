package chain

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/gradientcoin/gradientcoin/chain/state"
)

// Weight checkpoints. The model weights are derived data: replaying the
// contributions of the main chain from the genesis weights recomputes them.
// To keep reorgs and restarts cheap, BlockChain saves the weights after
// every CheckpointInterval-th main-chain block and at Close, as files named
// weights-<height, 12 digits>-<block hash>.ckpt in state's checkpoint
// encoding (which carries its own root). A file is written to a temporary
// name, fsynced, renamed and the directory fsynced, so a crash leaves either
// the whole file or none. A checkpoint that does not decode or whose root
// differs from its block's state root is ignored (and replay starts from an
// older one, or from genesis).

// Checkpoint defaults.
const (
	DefaultCheckpointInterval = 100
	DefaultCheckpointKeep     = 4
)

const ckptPrefix, ckptSuffix = "weights-", ".ckpt"

type ckptRef struct {
	height uint64
	hash   Hash
	path   string
}

// checkpointer manages checkpoint files in dir, or in memory when dir is "".
type checkpointer struct {
	mu    sync.Mutex
	dir   string
	keep  int
	chunk int
	files map[Hash]ckptRef
	mem   map[Hash]memCkpt
	pin   Hash // a pending snapshot's checkpoint: never pruned while set
}

type memCkpt struct {
	height uint64
	w      []float32
}

func newCheckpointer(dir string, keep, chunk int) (*checkpointer, error) {
	if keep <= 0 {
		keep = DefaultCheckpointKeep
	}
	c := &checkpointer{dir: dir, keep: keep, chunk: chunk, files: make(map[Hash]ckptRef), mem: make(map[Hash]memCkpt)}
	if dir == "" {
		return c, nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, ruleError(ErrStore, "checkpoint dir: %v", err)
	}
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, ruleError(ErrStore, "checkpoint dir: %v", err)
	}
	for _, e := range ents {
		name := e.Name()
		if strings.HasSuffix(name, ".tmp") && (strings.HasPrefix(name, ckptPrefix) || strings.HasPrefix(name, snapMarker)) {
			os.Remove(filepath.Join(dir, name)) // a write cut short by a crash
			continue
		}
		if ref, ok := parseCkptName(name); ok {
			ref.path = filepath.Join(dir, name)
			c.files[ref.hash] = ref
		}
	}
	return c, nil
}

func ckptName(height uint64, hash Hash) string {
	return fmt.Sprintf("%s%012d-%s%s", ckptPrefix, height, hash, ckptSuffix)
}

func parseCkptName(name string) (ckptRef, bool) {
	if !strings.HasPrefix(name, ckptPrefix) || !strings.HasSuffix(name, ckptSuffix) {
		return ckptRef{}, false
	}
	mid := strings.TrimSuffix(strings.TrimPrefix(name, ckptPrefix), ckptSuffix)
	hs, hashStr, ok := strings.Cut(mid, "-")
	if !ok {
		return ckptRef{}, false
	}
	h, err := strconv.ParseUint(hs, 10, 64)
	if err != nil {
		return ckptRef{}, false
	}
	hash, err := ParseHash(hashStr)
	if err != nil {
		return ckptRef{}, false
	}
	return ckptRef{height: h, hash: hash}, true
}

// load returns the checkpointed weights of block hash if there is a
// checkpoint whose root equals root.
func (c *checkpointer) load(hash, root Hash) ([]float32, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if m, ok := c.mem[hash]; ok {
		return slices.Clone(m.w), true
	}
	ref, ok := c.files[hash]
	if !ok {
		return nil, false
	}
	data, err := os.ReadFile(ref.path)
	if err != nil {
		return nil, false
	}
	w, _, got, err := state.DecodeCheckpoint(data)
	if err != nil || Hash(got) != root {
		return nil, false
	}
	return w, true
}

// has reports whether a checkpoint of block hash is held (not read).
func (c *checkpointer) has(hash Hash) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.mem[hash]; ok {
		return true
	}
	_, ok := c.files[hash]
	return ok
}

// hashes returns the blocks that have a checkpoint.
func (c *checkpointer) hashes() []Hash {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]Hash, 0, len(c.files)+len(c.mem))
	for h := range c.files {
		out = append(out, h)
	}
	for h := range c.mem {
		out = append(out, h)
	}
	return out
}

// save stores a checkpoint of w (the weights after block hash at height)
// and prunes all but the keep newest.
func (c *checkpointer) save(height uint64, hash Hash, w []float32) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.dir == "" {
		c.mem[hash] = memCkpt{height: height, w: slices.Clone(w)}
		for len(c.mem) > c.keep {
			var oldest Hash
			first := true
			for h, m := range c.mem {
				if h == c.pin && !c.pin.IsZero() {
					continue
				}
				if first || m.height < c.mem[oldest].height || (m.height == c.mem[oldest].height && string(h[:]) < string(oldest[:])) {
					oldest, first = h, false
				}
			}
			if first {
				break // only the pinned one is left to drop
			}
			delete(c.mem, oldest)
		}
		return nil
	}
	if _, ok := c.files[hash]; ok {
		return nil
	}
	data, err := state.EncodeCheckpoint(w, c.chunk)
	if err != nil {
		return ruleError(ErrStore, "checkpoint %s: %v", hash, err)
	}
	name := ckptName(height, hash)
	path := filepath.Join(c.dir, name)
	if err := writeFileAtomic(path, data); err != nil {
		return ruleError(ErrStore, "checkpoint %s: %v", hash, err)
	}
	c.files[hash] = ckptRef{height: height, hash: hash, path: path}
	c.prune()
	return nil
}

func (c *checkpointer) prune() {
	if len(c.files) <= c.keep {
		return
	}
	refs := make([]ckptRef, 0, len(c.files))
	for _, r := range c.files {
		if r.hash == c.pin && !c.pin.IsZero() {
			continue
		}
		refs = append(refs, r)
	}
	keep := c.keep
	if len(refs) < len(c.files) {
		keep-- // the pinned one counts
	}
	if len(refs) <= keep {
		return
	}
	slices.SortFunc(refs, func(a, b ckptRef) int {
		if a.height != b.height {
			if a.height > b.height {
				return -1
			}
			return 1
		}
		return strings.Compare(a.path, b.path)
	})
	for _, r := range refs[max(keep, 0):] {
		os.Remove(r.path)
		delete(c.files, r.hash)
	}
}

// writeFileAtomic writes data to path through a temporary file: write,
// fsync, rename, fsync the directory.
func writeFileAtomic(path string, data []byte) error {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, filepath.Base(path)+".*.tmp")
	if err != nil {
		return err
	}
	tmp := f.Name()
	if _, err := f.Write(data); err != nil {
		f.Close()
		os.Remove(tmp)
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		os.Remove(tmp)
		return err
	}
	if err := f.Close(); err != nil {
		os.Remove(tmp)
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return err
	}
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
	return nil
}

// applyModel applies blk's contributions to w, the weights of its parent
// (whose state root is parentRoot), in place, and checks the header's state
// root with the CPU reference de-sketch. On error w may have changed:
// callers apply to a copy they can discard.
func applyModel(p *Params, w []float32, blk *Block, parentRoot Hash) error {
	return applyModelWith(p, nil, nil, w, blk, parentRoot)
}

// applyModelWith is applyModel with the de-sketch tried on backend first
// (nil: the CPU reference only). A backend's answer is trusted only when
// it is a success whose weights hash to the header's state root. An error
// from the backend (a GPU out of memory, a driver fault) or weights with
// another root are local failures, never a verdict on the block: the CPU
// reference (state.Apply) then decides, and only its ErrBadContribution or
// ErrBadStateRoot condemns the block. fallbacks, if not nil, counts the
// blocks the CPU had to redo.
func applyModelWith(p *Params, backend state.Backend, fallbacks *atomic.Uint64, w []float32, blk *Block, parentRoot Hash) error {
	h := &blk.Header
	if len(blk.Contributions) == 0 {
		if h.StateRoot != parentRoot {
			return ruleError(ErrBadStateRoot, "block %s: no contributions, but state root %s differs from the parent's %s", h.BlockHash(), h.StateRoot, parentRoot)
		}
		return nil
	}
	if backend != nil {
		wb := slices.Clone(w)
		if err := state.ApplyWith(backend, p.Training, wb, [32]byte(h.PrevBlock), blk.Contributions); err == nil && Hash(p.Training.Root(wb)) == h.StateRoot {
			copy(w, wb)
			return nil
		}
		if fallbacks != nil {
			fallbacks.Add(1)
		}
	}
	if err := state.Apply(p.Training, w, [32]byte(h.PrevBlock), blk.Contributions); err != nil {
		return ruleError(ErrBadContribution, "block %s: applying contributions: %v", h.BlockHash(), err)
	}
	if root := Hash(p.Training.Root(w)); root != h.StateRoot {
		return ruleError(ErrBadStateRoot, "block %s: weights after the block have root %s, header says %s", h.BlockHash(), root, h.StateRoot)
	}
	return nil
}

// snapMarker is the file in the checkpoint directory that records a
// pending snapshot (ImportSnapshot): the snapshot block's header
// (HeaderSize bytes). The weights are that block's checkpoint file,
// pinned against pruning while the marker stands.
const snapMarker = "snapshot-pending"

// setPin pins the checkpoint of block h (the zero hash: none).
func (c *checkpointer) setPin(h Hash) {
	c.mu.Lock()
	c.pin = h
	c.mu.Unlock()
}

// savePending records h as the pending snapshot's header (no-op in memory).
func (c *checkpointer) savePending(h *Header) error {
	if c.dir == "" {
		return nil
	}
	if err := writeFileAtomic(filepath.Join(c.dir, snapMarker), h.Bytes()); err != nil {
		return ruleError(ErrStore, "snapshot marker: %v", err)
	}
	return nil
}

// loadPending returns the pending snapshot's header, if a marker that
// decodes is there.
func (c *checkpointer) loadPending() (Header, bool) {
	if c.dir == "" {
		return Header{}, false
	}
	raw, err := os.ReadFile(filepath.Join(c.dir, snapMarker))
	if err != nil || len(raw) != HeaderSize {
		return Header{}, false
	}
	h, err := DecodeHeader(raw)
	return h, err == nil
}

// clearPending removes the marker and the pin (best effort: a marker left
// behind is dropped at the next start when its block is behind the tip).
func (c *checkpointer) clearPending() {
	c.setPin(Hash{})
	if c.dir != "" {
		os.Remove(filepath.Join(c.dir, snapMarker))
	}
}
