package main

import (
	"io"
	"os"
	"time"

	"github.com/rs/zerolog"
)

// newLogger returns the process logger on w (stderr): zerolog's console
// format on a terminal, JSON otherwise, unless format says which.
func newLogger(w io.Writer, terminal bool, level, format string) zerolog.Logger {
	lvl, err := zerolog.ParseLevel(level)
	if err != nil || level == "" {
		lvl = zerolog.InfoLevel
	}
	console := format == "console" || (format != "json" && terminal)
	var out io.Writer = w
	if console {
		out = zerolog.ConsoleWriter{Out: w, TimeFormat: time.TimeOnly, NoColor: !terminal}
	}
	return zerolog.New(out).Level(lvl).With().Timestamp().Logger()
}

// isTerminal reports whether f is a character device (a terminal).
func isTerminal(f *os.File) bool {
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}
