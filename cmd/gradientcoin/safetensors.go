package main

import (
	"bufio"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"

	"github.com/gradientcoin/gradientcoin/chain/state"
)

// safetensorsEntry is one tensor of a safetensors header.
type safetensorsEntry struct {
	DType       string   `json:"dtype"`
	Shape       []int    `json:"shape"`
	DataOffsets [2]int64 `json:"data_offsets"`
}

// writeSafetensors writes weights w, laid out by tensors, as a safetensors
// file: an 8-byte little-endian header length, a JSON header (each tensor's
// dtype F32, shape and byte range; __metadata__ with meta), padded with
// spaces to a multiple of 8 bytes, then the float32 data in little-endian
// order. Tensors must tile w in order (as state.ModelConfig.Layout does).
func writeSafetensors(out io.Writer, tensors []state.Tensor, w []float32, meta map[string]string) error {
	header := map[string]any{}
	off := 0
	for _, t := range tensors {
		if t.Offset != off {
			return fmt.Errorf("safetensors: tensor %s at %d, want %d (layout not contiguous)", t.Name, t.Offset, off)
		}
		n := t.Size()
		header[t.Name] = safetensorsEntry{DType: "F32", Shape: t.Shape, DataOffsets: [2]int64{int64(4 * off), int64(4 * (off + n))}}
		off += n
	}
	if off != len(w) {
		return fmt.Errorf("safetensors: layout covers %d floats, weights have %d", off, len(w))
	}
	if len(meta) > 0 {
		header["__metadata__"] = meta
	}
	hj, err := json.Marshal(header)
	if err != nil {
		return err
	}
	for len(hj)%8 != 0 {
		hj = append(hj, ' ')
	}
	bw := bufio.NewWriterSize(out, 1<<20)
	var n8 [8]byte
	binary.LittleEndian.PutUint64(n8[:], uint64(len(hj)))
	bw.Write(n8[:])
	bw.Write(hj)
	var b4 [4]byte
	for _, f := range w {
		binary.LittleEndian.PutUint32(b4[:], math.Float32bits(f))
		if _, err := bw.Write(b4[:]); err != nil {
			return err
		}
	}
	return bw.Flush()
}

// writeFileAtomic writes a file through a temporary name in the same
// directory: fsynced, then renamed over path. On error nothing is left.
func writeFileAtomic(path string, perm os.FileMode, fill func(io.Writer) error) error {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	ok := false
	defer func() {
		if !ok {
			f.Close()
			os.Remove(tmp)
		}
	}()
	if err := fill(f); err != nil {
		return err
	}
	if err := f.Chmod(perm); err != nil {
		return err
	}
	if err := f.Sync(); err != nil {
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		return err
	}
	ok = true
	return nil
}
