package logging

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"
)

func TestParseLevel(t *testing.T) {
	for in, want := range map[string]slog.Level{"debug": slog.LevelDebug, "INFO": slog.LevelInfo, "": slog.LevelInfo, "warn": slog.LevelWarn, "error": slog.LevelError} {
		if got, err := ParseLevel(in); err != nil || got != want {
			t.Errorf("ParseLevel(%q) = %v, %v", in, got, err)
		}
	}
	if _, err := ParseLevel("verbose"); err == nil || !strings.Contains(err.Error(), "debug, info, warn, error") {
		t.Errorf("ParseLevel(verbose): %v", err)
	}
}

func TestLevelsLowerCase(t *testing.T) {
	var b bytes.Buffer
	s := NewSink(&b, slog.LevelDebug)
	l := s.Logger()
	l.Debug("d")
	l.Info("i")
	l.Warn("w")
	l.Error("e")
	for _, want := range []string{`"level":"debug","msg":"d"`, `"level":"info","msg":"i"`, `"level":"warn","msg":"w"`, `"level":"error","msg":"e"`} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("output lacks %s:\n%s", want, b.String())
		}
	}
	if !Enabled(s, slog.LevelDebug) || Enabled(NewSink(&b, slog.LevelWarn), slog.LevelInfo) {
		t.Error("Enabled disagrees with the sink's level")
	}
}
