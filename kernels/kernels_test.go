package kernels

import (
	"encoding/binary"
	"errors"
	"os"
	"strings"
	"testing"
)

// fatbinMagic is the little-endian magic word at the start of a fatbin file.
const fatbinMagic = 0xBA55ED50

func TestEveryCUHasAFatbin(t *testing.T) {
	srcs, err := os.ReadDir(".")
	if err != nil {
		t.Fatal(err)
	}
	have := map[string]bool{}
	for _, n := range Names() {
		have[n] = true
	}
	nsrc := 0
	for _, e := range srcs {
		if !strings.HasSuffix(e.Name(), ".cu") {
			continue
		}
		nsrc++
		name := strings.TrimSuffix(e.Name(), ".cu")
		if !have[name] {
			t.Errorf("%s has no committed %s.fatbin (run make kernels)", e.Name(), name)
		}
	}
	if nsrc != len(Names()) {
		t.Errorf("%d .cu sources but %d fatbins: %v", nsrc, len(Names()), Names())
	}
}

func TestFatbinImages(t *testing.T) {
	for _, n := range Names() {
		b, err := Fatbin(n)
		if err != nil {
			t.Fatal(err)
		}
		if len(b) < 16 || binary.LittleEndian.Uint32(b) != fatbinMagic {
			t.Errorf("%s.fatbin: not a fatbin image (len %d)", n, len(b))
		}
	}
	b, err := Fatbin(SHA256d)
	if err != nil || len(b) == 0 {
		t.Fatalf("sha256d: %v", err)
	}
	// The entry point name must be in the image (extern "C", unmangled).
	for _, entry := range []string{SHA256dSearch, SHA256dSearchMAD} {
		if !strings.Contains(string(b), entry+"\x00") {
			t.Errorf("sha256d.fatbin has no %s symbol", entry)
		}
	}
}

func TestUnknownKernel(t *testing.T) {
	if _, err := Fatbin("nope"); !errors.Is(err, ErrUnknownKernel) {
		t.Fatalf("got %v, want ErrUnknownKernel", err)
	}
}
