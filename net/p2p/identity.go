package p2p

import (
	"crypto/rand"
	"errors"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/libp2p/go-libp2p/core/crypto"
)

// LoadOrCreateIdentity returns the node's identity key from
// dir/IdentityFile, creating it (Ed25519) if the file does not exist.
// The file is written atomically (temporary file, fsync, rename, fsync of
// the directory) with mode 0600; an existing file readable by group or
// others is refused, as is one that does not parse.
func LoadOrCreateIdentity(dir string) (crypto.PrivKey, error) {
	path := filepath.Join(dir, IdentityFile)
	raw, err := os.ReadFile(path)
	switch {
	case err == nil:
		fi, err := os.Stat(path)
		if err != nil {
			return nil, wrapf(ErrIdentity, err, "identity key %s", path)
		}
		if fi.Mode().Perm()&0o077 != 0 {
			return nil, errorf(ErrIdentity, "identity key %s: mode %v is readable by others; chmod 600 it", path, fi.Mode().Perm())
		}
		k, err := crypto.UnmarshalPrivateKey(raw)
		if err != nil {
			return nil, wrapf(ErrIdentity, err, "identity key %s: does not parse", path)
		}
		return k, nil
	case !errors.Is(err, fs.ErrNotExist):
		return nil, wrapf(ErrIdentity, err, "identity key %s", path)
	}
	k, _, err := crypto.GenerateEd25519Key(rand.Reader)
	if err != nil {
		return nil, wrapf(ErrIdentity, err, "generate identity key")
	}
	raw, err = crypto.MarshalPrivateKey(k)
	if err != nil {
		return nil, wrapf(ErrIdentity, err, "encode identity key")
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, wrapf(ErrIdentity, err, "identity key directory %s", dir)
	}
	if err := writeFileAtomic(path, raw, 0o600); err != nil {
		return nil, wrapf(ErrIdentity, err, "write identity key %s", path)
	}
	return k, nil
}

// writeFileAtomic writes data to path so that a crash leaves either the
// old file or the complete new one.
func writeFileAtomic(path string, data []byte, perm os.FileMode) (err error) {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(tmp)
		}
	}()
	if err = f.Chmod(perm); err != nil {
		return err
	}
	if _, err = f.Write(data); err != nil {
		return err
	}
	if err = f.Sync(); err != nil {
		return err
	}
	if err = f.Close(); err != nil {
		return err
	}
	if err = os.Rename(tmp, path); err != nil {
		return err
	}
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
