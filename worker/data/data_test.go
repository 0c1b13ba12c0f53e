package data

import (
	"errors"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
)

func write(t *testing.T, dir, name string, b []byte) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestLoad(t *testing.T) {
	dir := t.TempDir()
	text := []byte(strings.Repeat("the quick brown fox jumps over the lazy dog\n", 10))
	good := write(t, dir, "good.txt", text)
	empty := write(t, dir, "empty.txt", nil)
	bin := write(t, dir, "blob.bin", []byte("ab\x00cd"))
	ctl := write(t, dir, "ctl.txt", []byte(strings.Repeat("\x01\x02\x03x", 50)))
	folder := filepath.Join(dir, "corpus")
	write(t, folder, "a.txt", []byte("first file"))
	write(t, folder, "sub/b.txt", []byte("second file\n"))
	write(t, folder, "sub/empty.txt", nil)
	write(t, folder, ".hidden/blob", []byte{0, 1, 2})
	write(t, folder, ".DS_Store", []byte{0, 0})
	badFolder := filepath.Join(dir, "bad")
	write(t, badFolder, "ok.txt", text)
	badBin := write(t, badFolder, "z.dat", []byte{0xff, 0, 0x10})
	emptyFolder := filepath.Join(dir, "nothing")
	write(t, emptyFolder, "e.txt", nil)

	cases := []struct {
		name    string
		path    string
		want    error
		mention string
		train   string
	}{
		{"text-file", good, nil, "", ""},
		{"empty-file", empty, ErrEmpty, empty, ""},
		{"binary-file", bin, ErrBinary, bin, ""},
		{"control-bytes", ctl, ErrBinary, ctl, ""},
		{"missing", filepath.Join(dir, "nope"), ErrIO, "nope", ""},
		{"folder", folder, nil, "", "first file\nsecond file\n"},
		{"folder-with-binary", badFolder, ErrBinary, badBin, ""},
		{"folder-empty", emptyFolder, ErrEmpty, emptyFolder, ""},
	}
	for _, c := range cases {
		corp, err := Load(c.path)
		if c.want != nil {
			if !errors.Is(err, c.want) {
				t.Errorf("%s: got %v, want %v", c.name, err, c.want)
			} else if !strings.Contains(err.Error(), c.mention) {
				t.Errorf("%s: error %q does not name %s", c.name, err, c.mention)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: %v", c.name, err)
			continue
		}
		all := string(corp.Train) + string(corp.Val)
		if c.train != "" && all != c.train {
			t.Errorf("%s: corpus %q, want %q", c.name, all, c.train)
		}
		if len(corp.Val) != len(all)*ValPercent/100 {
			t.Errorf("%s: validation has %d of %d bytes", c.name, len(corp.Val), len(all))
		}
	}
}

func TestShardAndPages(t *testing.T) {
	if _, err := FromBytes("x", make([]byte, 100*PageSize)); err == nil {
		t.Fatal("all-NUL input accepted")
	}
	corp, err := FromBytes("x", []byte(strings.Repeat("abcdefgh\n", 100*PageSize/9+100)))
	if err != nil {
		t.Fatal(err)
	}
	seen := map[int]string{}
	for _, k := range []string{"alice", "bob", "carol", "dave", "erin"} {
		pages, err := corp.Shard([]byte(k), 4)
		if err != nil {
			t.Fatal(err)
		}
		s, _ := ShardIndex([]byte(k), 4)
		for _, p := range pages {
			if p%4 != s {
				t.Errorf("key %s: page %d not in shard %d", k, p, s)
			}
			if o, ok := seen[p]; ok {
				if so, _ := ShardIndex([]byte(o), 4); so != s {
					t.Errorf("page %d in shards of %s and %s", p, o, k)
				}
			}
			seen[p] = k
		}
	}
	if _, err := corp.Shard([]byte("a"), 0); !errors.Is(err, ErrBadArgument) {
		t.Errorf("zero shards: %v", err)
	}
	if _, err := corp.Shard([]byte("a"), 10000); !errors.Is(err, ErrEmpty) {
		t.Errorf("more shards than pages: %v", err)
	}

	cases := []struct {
		name     string
		seed     string
		key      string
		numPages int
		k        int
		want     error
	}{
		{"some", "round1", "alice", 100, 10, nil},
		{"all", "round1", "alice", 7, 7, nil},
		{"none", "round1", "alice", 7, 0, nil},
		{"one-page", "r", "k", 1, 1, nil},
		{"too-many", "r", "k", 5, 6, ErrBadArgument},
		{"no-pages", "r", "k", 0, 0, ErrBadArgument},
	}
	for _, c := range cases {
		got, err := AssignPages([]byte(c.seed), []byte(c.key), c.numPages, c.k)
		if !errors.Is(err, c.want) {
			t.Errorf("%s: error %v, want %v", c.name, err, c.want)
			continue
		}
		if err != nil {
			continue
		}
		again, _ := AssignPages([]byte(c.seed), []byte(c.key), c.numPages, c.k)
		if !slices.Equal(got, again) {
			t.Errorf("%s: not deterministic", c.name)
		}
		s := slices.Clone(got)
		sort.Ints(s)
		for i, p := range s {
			if p < 0 || p >= c.numPages || (i > 0 && s[i-1] == p) {
				t.Errorf("%s: bad or repeated page %d in %v", c.name, p, got)
			}
		}
	}
	a, _ := AssignPages([]byte("s"), []byte("alice"), 1000, 20)
	b, _ := AssignPages([]byte("s"), []byte("bob"), 1000, 20)
	c, _ := AssignPages([]byte("t"), []byte("alice"), 1000, 20)
	if slices.Equal(a, b) || slices.Equal(a, c) {
		t.Error("different keys or seeds gave the same pages")
	}
	// Golden vector: catches any change of the assignment rule.
	g, _ := AssignPages([]byte("gradientcoin"), []byte("worker"), 50, 5)
	if want := goldenPages; !slices.Equal(g, want) {
		t.Errorf("golden assignment %v, want %v", g, want)
	}
	// Uniformity: every page drawn about equally often over many seeds.
	counts := make([]int, 10)
	for i := 0; i < 2000; i++ {
		p, _ := AssignPages([]byte(strconv.Itoa(i)), []byte("k"), 10, 3)
		for _, x := range p {
			counts[x]++
		}
	}
	for i, n := range counts {
		if n < 500 || n > 700 { // mean 600, sd ≈ 22
			t.Errorf("page %d drawn %d times of 6000", i, n)
		}
	}
}

var goldenPages = []int{4, 8, 15, 26, 37}

func TestSampler(t *testing.T) {
	text := []byte(strings.Repeat("0123456789", 2000))
	s, err := NewSampler(text, nil, 3, 8)
	if err != nil {
		t.Fatal(err)
	}
	b1 := s.Next(rand.New(rand.NewPCG(1, 2)))
	b2 := s.Next(rand.New(rand.NewPCG(1, 2)))
	if !slices.Equal(b1.Inputs, b2.Inputs) || !slices.Equal(b1.Targets, b2.Targets) {
		t.Error("same seed, different batches")
	}
	for i := 0; i < 3*8; i++ {
		if (b1.Inputs[i]-'0'+1)%10 != b1.Targets[i]-'0' {
			t.Fatalf("target %d is not the next byte", i)
		}
		if i%8 != 7 && b1.Inputs[i+1] != b1.Targets[i] {
			t.Fatalf("input %d does not follow target %d", i+1, i)
		}
	}
	// restricted to pages
	ps, err := NewSampler(text, []int{2}, 4, 8)
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(5, 5))
	for k := 0; k < 50; k++ {
		_ = ps.Next(rng)
	}
	cases := []struct {
		name  string
		data  []byte
		pages []int
		b, t  int
		want  error
	}{
		{"zero-batch", text, nil, 0, 8, ErrBadArgument},
		{"short-data", []byte("abc"), nil, 1, 8, ErrEmpty},
		{"bad-page", text, []int{99}, 1, 8, ErrBadArgument},
		{"empty-pages", text, []int{}, 1, 8, ErrEmpty},
	}
	for _, c := range cases {
		if _, err := NewSampler(c.data, c.pages, c.b, c.t); !errors.Is(err, c.want) {
			t.Errorf("%s: got %v, want %v", c.name, err, c.want)
		}
	}
	ws, err := Windows([]byte("abcdefghijklmnopq"), 2, 4, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(ws) != 2 || string(rune(ws[1].Inputs[0])) != "i" || string(rune(ws[1].Targets[7])) != "q" {
		t.Errorf("windows %+v", ws)
	}
	if _, err := Windows([]byte("ab"), 2, 4, 0); !errors.Is(err, ErrEmpty) {
		t.Errorf("short windows: %v", err)
	}
}

func TestSynthetic(t *testing.T) {
	c1, err := Synthetic(SyntheticConfig{Seed: 3, Problems: 5000, Tasks: allTasks})
	if err != nil {
		t.Fatal(err)
	}
	c2, _ := Synthetic(SyntheticConfig{Seed: 3, Problems: 5000, Tasks: allTasks})
	if string(c1.Train) != string(c2.Train) || string(c1.Val) != string(c2.Val) {
		t.Error("same seed, different corpus")
	}
	if err := CheckText("synthetic", c1.Train); err != nil {
		t.Error(err)
	}
	frac := float64(len(c1.ValProblems)) / 5000
	if frac < 0.07 || frac > 0.13 {
		t.Errorf("validation share %.3f", frac)
	}
	train := map[string]bool{}
	for _, line := range strings.SplitAfter(string(c1.Train), "\n") {
		train[line] = true
	}
	tasks := map[string]int{}
	for _, p := range c1.ValProblems {
		if train[p.Text()] {
			t.Errorf("held-out problem %q is in the training stream", p.Text())
		}
		tasks[TaskOf(p)]++
		body := strings.TrimSuffix(p.Answer, "\n")
		switch TaskOf(p) {
		case TaskCopy:
			if p.Prompt[2:len(p.Prompt)-1] != body {
				t.Errorf("bad copy %q", p.Text())
			}
		case TaskReverse:
			r := []byte(p.Prompt[2 : len(p.Prompt)-1])
			slices.Reverse(r)
			if string(r) != body {
				t.Errorf("bad reverse %q", p.Text())
			}
		case TaskSort:
			r := []byte(p.Prompt[2 : len(p.Prompt)-1])
			slices.Sort(r)
			if string(r) != body {
				t.Errorf("bad sort %q", p.Text())
			}
		case TaskMax:
			r := []byte(p.Prompt[2 : len(p.Prompt)-1])
			if string(slices.Max(r)) != body {
				t.Errorf("bad max %q", p.Text())
			}
		case TaskAdd:
			ab := strings.Split(strings.TrimSuffix(p.Prompt, "="), "+")
			x, _ := strconv.Atoi(ab[0])
			y, _ := strconv.Atoi(ab[1])
			if strconv.Itoa(x+y) != body {
				t.Errorf("bad sum %q", p.Text())
			}
		}
	}
	for _, task := range []string{TaskSort, TaskMax, TaskAdd, TaskCopy, TaskReverse} {
		if tasks[task] == 0 {
			t.Errorf("no held-out %s problems", task)
		}
	}
	for _, c := range []struct {
		name string
		cfg  SyntheticConfig
	}{
		{"unknown-task", SyntheticConfig{Tasks: []string{"poetry"}}},
		{"too-few", SyntheticConfig{Problems: 3}},
	} {
		if _, err := Synthetic(c.cfg); !errors.Is(err, ErrBadArgument) {
			t.Errorf("%s: got %v", c.name, err)
		}
	}
}

var allTasks = []string{TaskSort, TaskMax, TaskAdd, TaskCopy, TaskReverse}
