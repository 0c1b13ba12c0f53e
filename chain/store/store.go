package store

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/gradientcoin/gradientcoin/chain"
)

// Bucket layout (all keys and values are fixed-format byte strings):
//
//	meta    "version" → u32 LE (1); "state" → tip hash ‖ height u64 LE ‖ supply u64 LE
//	index   block hash → header (160 bytes) ‖ status (1 byte)
//	blocks  block hash → block encoding (chain.Block.Bytes)
//	undo    block hash → chain.EncodeUndo of the outputs the block spent
//	utxo    chain.OutPointKey → chain.EncodeUtxoEntry
//	addr    address (20) ‖ chain.OutPointKey → empty (outputs by address)
var (
	bucketMeta   = []byte("meta")
	bucketIndex  = []byte("index")
	bucketBlocks = []byte("blocks")
	bucketUndo   = []byte("undo")
	bucketUtxo   = []byte("utxo")
	bucketAddr   = []byte("addr")
	keyVersion   = []byte("version")
	keyState     = []byte("state")
	allBuckets   = [][]byte{bucketMeta, bucketIndex, bucketBlocks, bucketUndo, bucketUtxo, bucketAddr}
)

const (
	formatVersion = 1
	stateSize     = chain.HashSize + 8 + 8
)

// Options tune Open.
type Options struct {
	// Timeout waits this long for the file lock (another process holding
	// the database); zero means 5 seconds.
	Timeout time.Duration
	// NoSync skips fsync on commit: faster, but a crash may lose or
	// corrupt recent commits. For benchmarks and throwaway tests only.
	NoSync bool
	// ReadOnly opens an existing database for reading only (a shared
	// file lock, so readers do not exclude each other but a writer waits
	// for them): nothing is created or written, and writes fail.
	ReadOnly bool
}

// Store is a chain.Store on a bbolt database file.
type Store struct {
	db *bolt.DB
}

var _ chain.Store = (*Store)(nil)

// Open opens (creating if needed) the database at path.
func Open(path string, opts *Options) (*Store, error) {
	var o Options
	if opts != nil {
		o = *opts
	}
	if o.Timeout == 0 {
		o.Timeout = 5 * time.Second
	}
	if o.ReadOnly {
		return openReadOnly(path, o)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, storeErr("create directory", err)
	}
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: o.Timeout, NoSync: o.NoSync, FreelistType: bolt.FreelistMapType})
	if err != nil {
		return nil, storeErr("open "+path, err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		for _, b := range allBuckets {
			if _, err := tx.CreateBucketIfNotExists(b); err != nil {
				return err
			}
		}
		meta := tx.Bucket(bucketMeta)
		if v := meta.Get(keyVersion); v != nil {
			if len(v) != 4 || binary.LittleEndian.Uint32(v) != formatVersion {
				return fmt.Errorf("unsupported database format %x (want version %d)", v, formatVersion)
			}
			return nil
		}
		return meta.Put(keyVersion, binary.LittleEndian.AppendUint32(nil, formatVersion))
	})
	if err != nil {
		db.Close()
		return nil, storeErr("initialise "+path, err)
	}
	return &Store{db: db}, nil
}

func openReadOnly(path string, o Options) (*Store, error) {
	if _, err := os.Stat(path); err != nil {
		return nil, storeErr("open "+path, err)
	}
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: o.Timeout, ReadOnly: true, FreelistType: bolt.FreelistMapType})
	if err != nil {
		return nil, storeErr("open "+path, err)
	}
	err = db.View(func(tx *bolt.Tx) error {
		for _, b := range allBuckets {
			if tx.Bucket(b) == nil {
				return fmt.Errorf("no %s bucket (not a chain store)", b)
			}
		}
		v := tx.Bucket(bucketMeta).Get(keyVersion)
		if len(v) != 4 || binary.LittleEndian.Uint32(v) != formatVersion {
			return fmt.Errorf("unsupported database format %x (want version %d)", v, formatVersion)
		}
		return nil
	})
	if err != nil {
		db.Close()
		return nil, storeErr("open "+path, err)
	}
	return &Store{db: db}, nil
}

// Close closes the database.
func (s *Store) Close() error {
	if err := s.db.Close(); err != nil {
		return storeErr("close", err)
	}
	return nil
}

// Path returns the database file's path.
func (s *Store) Path() string { return s.db.Path() }

func storeErr(what string, err error) error {
	var re chain.RuleError
	if errors.As(err, &re) {
		return err
	}
	return chain.RuleError{Err: chain.ErrStore, Description: fmt.Sprintf("store: %s: %v", what, err)}
}

func notFound(format string, a ...any) error {
	return chain.RuleError{Err: chain.ErrNotFound, Description: "store: " + fmt.Sprintf(format, a...)}
}

// FetchUtxos implements chain.UtxoFetcher.
func (s *Store) FetchUtxos(ops []chain.OutPoint) (map[chain.OutPoint]chain.UtxoEntry, error) {
	out := make(map[chain.OutPoint]chain.UtxoEntry, len(ops))
	err := s.db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketUtxo)
		for _, op := range ops {
			k := chain.OutPointKey(op)
			v := b.Get(k[:])
			if v == nil {
				continue
			}
			e, err := chain.DecodeUtxoEntry(v)
			if err != nil {
				return err
			}
			out[op] = e
		}
		return nil
	})
	if err != nil {
		return nil, storeErr("fetch utxos", err)
	}
	return out, nil
}

func indexValue(h *chain.Header, status chain.BlockStatus) []byte {
	return append(h.AppendTo(make([]byte, 0, chain.HeaderSize+1)), byte(status))
}

// PutBlock implements chain.Store.
func (s *Store) PutBlock(blk *chain.Block, status chain.BlockStatus) error {
	hash := blk.Hash()
	err := s.db.Update(func(tx *bolt.Tx) error {
		blocks := tx.Bucket(bucketBlocks)
		if blocks.Get(hash[:]) == nil {
			if err := blocks.Put(hash[:], blk.Bytes()); err != nil {
				return err
			}
		}
		return tx.Bucket(bucketIndex).Put(hash[:], indexValue(&blk.Header, status))
	})
	if err != nil {
		return storeErr("put block "+hash.String(), err)
	}
	return nil
}

func setStatus(tx *bolt.Tx, hash chain.Hash, status chain.BlockStatus) error {
	idx := tx.Bucket(bucketIndex)
	v := idx.Get(hash[:])
	if len(v) != chain.HeaderSize+1 {
		return notFound("block %s not in the index", hash)
	}
	nv := append([]byte(nil), v...)
	nv[chain.HeaderSize] = byte(status)
	return idx.Put(hash[:], nv)
}

// SetStatus implements chain.Store.
func (s *Store) SetStatus(hash chain.Hash, status chain.BlockStatus) error {
	err := s.db.Update(func(tx *bolt.Tx) error { return setStatus(tx, hash, status) })
	if err != nil {
		return storeErr("set status", err)
	}
	return nil
}

// ForEachHeader implements chain.Store.
func (s *Store) ForEachHeader(fn func(h *chain.Header, status chain.BlockStatus) error) error {
	type rec struct {
		h chain.Header
		s chain.BlockStatus
	}
	var recs []rec
	err := s.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketIndex).ForEach(func(k, v []byte) error {
			if len(v) != chain.HeaderSize+1 {
				return fmt.Errorf("index entry %x: %d bytes", k, len(v))
			}
			h, err := chain.DecodeHeader(v[:chain.HeaderSize])
			if err != nil {
				return err
			}
			recs = append(recs, rec{h, chain.BlockStatus(v[chain.HeaderSize])})
			return nil
		})
	})
	if err != nil {
		return storeErr("read index", err)
	}
	for i := range recs {
		if err := fn(&recs[i].h, recs[i].s); err != nil {
			return err
		}
	}
	return nil
}

// FetchBlock implements chain.Store.
func (s *Store) FetchBlock(hash chain.Hash) (*chain.Block, error) {
	raw, err := s.FetchBlockBytes(hash)
	if err != nil {
		return nil, err
	}
	blk, err := chain.DecodeBlock(raw)
	if err != nil {
		return nil, storeErr("decode block "+hash.String(), err)
	}
	return blk, nil
}

// BlockSize implements chain.Store: the stored value's length, read in
// place (bbolt values live in the memory-mapped file).
func (s *Store) BlockSize(hash chain.Hash) (int, error) {
	size := -1
	err := s.db.View(func(tx *bolt.Tx) error {
		if v := tx.Bucket(bucketBlocks).Get(hash[:]); v != nil {
			size = len(v)
		}
		return nil
	})
	if err != nil {
		return 0, storeErr("block size", err)
	}
	if size < 0 {
		return 0, notFound("block %s not stored", hash)
	}
	return size, nil
}

// FetchBlockBytes implements chain.Store: the stored encoding, copied out
// of the read transaction, not decoded.
func (s *Store) FetchBlockBytes(hash chain.Hash) ([]byte, error) {
	return s.get(bucketBlocks, hash, "fetch block", "block %s not stored")
}

// FetchUndo implements chain.Store.
func (s *Store) FetchUndo(hash chain.Hash) ([]byte, error) {
	return s.get(bucketUndo, hash, "fetch undo", "undo of block %s not stored")
}

// get copies the value under hash in bucket out of a read transaction;
// a missing one is ErrNotFound (missing names the hash).
func (s *Store) get(bucket []byte, hash chain.Hash, op, missing string) ([]byte, error) {
	var raw []byte
	err := s.db.View(func(tx *bolt.Tx) error {
		if v := tx.Bucket(bucket).Get(hash[:]); v != nil {
			raw = append([]byte(nil), v...)
		}
		return nil
	})
	if err != nil {
		return nil, storeErr(op, err)
	}
	if raw == nil {
		return nil, notFound(missing, hash)
	}
	return raw, nil
}

// State implements chain.Store.
func (s *Store) State() (chain.ChainState, bool, error) {
	var st chain.ChainState
	var ok bool
	err := s.db.View(func(tx *bolt.Tx) error {
		v := tx.Bucket(bucketMeta).Get(keyState)
		if v == nil {
			return nil
		}
		if len(v) != stateSize {
			return fmt.Errorf("chain state: %d bytes, want %d", len(v), stateSize)
		}
		copy(st.Tip[:], v)
		st.Height = binary.LittleEndian.Uint64(v[chain.HashSize:])
		st.Supply = binary.LittleEndian.Uint64(v[chain.HashSize+8:])
		ok = true
		return nil
	})
	if err != nil {
		return st, false, storeErr("read state", err)
	}
	return st, ok, nil
}

func addrKey(a chain.Address, op chain.OutPoint) []byte {
	k := chain.OutPointKey(op)
	return append(append(make([]byte, 0, chain.AddressSize+len(k)), a[:]...), k[:]...)
}

// Commit implements chain.Store: one bbolt transaction per block.
func (s *Store) Commit(u *chain.StateUpdate) error {
	var newRaw []byte
	if u.NewBlock != nil && u.Connect {
		if h := u.NewBlock.Hash(); h != u.Block {
			return storeErr("commit", fmt.Errorf("new block %s is not block %s", h, u.Block))
		}
		newRaw = u.NewBlock.Bytes()
	}
	err := s.db.Update(func(tx *bolt.Tx) error {
		blocks := tx.Bucket(bucketBlocks)
		if newRaw != nil && blocks.Get(u.Block[:]) == nil {
			if err := blocks.Put(u.Block[:], newRaw); err != nil {
				return err
			}
			if err := tx.Bucket(bucketIndex).Put(u.Block[:], indexValue(&u.NewBlock.Header, u.Status)); err != nil {
				return err
			}
		}
		if blocks.Get(u.Block[:]) == nil {
			return notFound("commit: block %s not stored", u.Block)
		}
		utxo, addr := tx.Bucket(bucketUtxo), tx.Bucket(bucketAddr)
		for _, r := range u.Delta.Removed {
			k := chain.OutPointKey(r.OutPoint)
			if err := utxo.Delete(k[:]); err != nil {
				return err
			}
			if err := addr.Delete(addrKey(r.Entry.Address, r.OutPoint)); err != nil {
				return err
			}
		}
		for _, a := range u.Delta.Added {
			k := chain.OutPointKey(a.OutPoint)
			e := chain.EncodeUtxoEntry(a.Entry)
			if err := utxo.Put(k[:], e[:]); err != nil {
				return err
			}
			if err := addr.Put(addrKey(a.Entry.Address, a.OutPoint), nil); err != nil {
				return err
			}
		}
		undo := tx.Bucket(bucketUndo)
		if u.Connect {
			if err := undo.Put(u.Block[:], u.Undo); err != nil {
				return err
			}
		} else if err := undo.Delete(u.Block[:]); err != nil {
			return err
		}
		if err := setStatus(tx, u.Block, u.Status); err != nil {
			return err
		}
		st := make([]byte, 0, stateSize)
		st = append(st, u.State.Tip[:]...)
		st = binary.LittleEndian.AppendUint64(st, u.State.Height)
		st = binary.LittleEndian.AppendUint64(st, u.State.Supply)
		return tx.Bucket(bucketMeta).Put(keyState, st)
	})
	if err != nil {
		return storeErr("commit block "+u.Block.String(), err)
	}
	return nil
}

// UtxosByAddress implements chain.Store.
func (s *Store) UtxosByAddress(a chain.Address) ([]chain.Utxo, error) {
	var out []chain.Utxo
	err := s.db.View(func(tx *bolt.Tx) error {
		utxo := tx.Bucket(bucketUtxo)
		c := tx.Bucket(bucketAddr).Cursor()
		for k, _ := c.Seek(a[:]); k != nil && len(k) == chain.AddressSize+chain.OutPointKeySize && string(k[:chain.AddressSize]) == string(a[:]); k, _ = c.Next() {
			ok := k[chain.AddressSize:]
			op, err := chain.OutPointFromKey(ok)
			if err != nil {
				return err
			}
			v := utxo.Get(ok)
			if v == nil {
				return fmt.Errorf("address index names %s, which is not in the UTXO set", op)
			}
			e, err := chain.DecodeUtxoEntry(v)
			if err != nil {
				return err
			}
			out = append(out, chain.Utxo{OutPoint: op, Entry: e})
		}
		return nil
	})
	if err != nil {
		return nil, storeErr("utxos by address", err)
	}
	return out, nil
}

// ForEachUtxo implements chain.Store. fn runs inside a read transaction:
// it must not write to the store.
func (s *Store) ForEachUtxo(fn func(u chain.Utxo) error) error {
	return s.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketUtxo).ForEach(func(k, v []byte) error {
			op, err := chain.OutPointFromKey(k)
			if err != nil {
				return err
			}
			e, err := chain.DecodeUtxoEntry(v)
			if err != nil {
				return err
			}
			return fn(chain.Utxo{OutPoint: op, Entry: e})
		})
	})
}
