package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/gradientcoin/gradientcoin/gpu"
)

// gpuReport is the result of the gpu command.
type gpuReport struct {
	CUDA    bool        `json:"cuda"` // built with the gccuda tag
	Message string      `json:"message,omitempty"`
	Devices []gpuDevice `json:"devices"`
}

type gpuDevice struct {
	gpu.DeviceInfo
	SelfTests []gpuSelfTest `json:"self_tests,omitempty"`
}

type gpuSelfTest struct {
	Name    string  `json:"name"`
	OK      bool    `json:"ok"`
	Error   string  `json:"error,omitempty"`
	Seconds float64 `json:"seconds"`
}

func cmdGPU(_ context.Context, env *cliEnv, args []string) error {
	fs := newFlagSet(env, "gpu", `gpu [--json] [--no-self-test]

Lists the CUDA devices and runs the known-answer self-test of every kernel
family (SHA-256d nonce search, sketch/de-sketch, attention softmax) on each.
A binary built without the gccuda tag says so and exits 0.`, 0)
	asJSON := fs.Bool("json", false, "print JSON")
	noTest := fs.Bool("no-self-test", false, "only list the devices")
	pos, err := fs.parse(args)
	if err != nil {
		return err
	}
	if err := fs.noArgs(pos); err != nil {
		return err
	}
	rep := gpuReport{CUDA: gpu.Available(), Devices: []gpuDevice{}}
	failed := false
	if !rep.CUDA {
		rep.Message = "built without CUDA: this binary mines and trains on the CPU (rebuild with -tags gccuda, e.g. make build-cuda)"
	} else {
		devs, err := gpu.Devices()
		if err != nil {
			return fmt.Errorf("gpu: list devices: %w", err)
		}
		if len(devs) == 0 {
			rep.Message = "built with CUDA, but the driver reports no device"
		}
		for _, d := range devs {
			dev := gpuDevice{DeviceInfo: d}
			if !*noTest {
				dev.SelfTests = selfTestDevice(d.Ordinal)
				for _, t := range dev.SelfTests {
					failed = failed || !t.OK
				}
			}
			rep.Devices = append(rep.Devices, dev)
		}
	}
	if *asJSON {
		if err := json.NewEncoder(env.stdout).Encode(rep); err != nil {
			return err
		}
	} else {
		w := env.stdout
		if rep.Message != "" {
			fmt.Fprintln(w, rep.Message)
		}
		for _, d := range rep.Devices {
			fmt.Fprintf(w, "GPU %d: %s\n", d.Ordinal, d.DeviceInfo)
			for _, t := range d.SelfTests {
				status := "ok"
				if !t.OK {
					status = "FAILED: " + t.Error
				}
				fmt.Fprintf(w, "  self-test %-8s %s (%.2fs)\n", t.Name, status, t.Seconds)
			}
		}
	}
	if failed {
		return errors.New("gpu: a device failed its self-test (it will not be used)")
	}
	return nil
}

// selfTestDevice runs every kernel family's self-test on one device.
func selfTestDevice(ordinal int) []gpuSelfTest {
	var out []gpuSelfTest
	run := func(name string, fn func() error) {
		start := time.Now()
		err := fn()
		t := gpuSelfTest{Name: name, OK: err == nil, Seconds: time.Since(start).Seconds()}
		if err != nil {
			t.Error = oneLine(err.Error())
		}
		out = append(out, t)
	}
	c, err := gpu.NewContext(ordinal)
	if err != nil {
		run("context", func() error { return err })
		return out
	}
	defer c.Close()
	run("sha256d", func() error { return gpu.SelfTest(c) })
	run("sketch", func() error {
		b, err := gpu.NewSketchBackend(c)
		if err != nil {
			return err
		}
		defer b.Close()
		return b.SelfTest()
	})
	run("softmax", func() error {
		s, err := gpu.NewSoftmax(c)
		if err != nil {
			return err
		}
		defer s.Close()
		return s.SelfTest()
	})
	return out
}
