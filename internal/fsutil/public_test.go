package fsutil

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"
)

func TestPublicError(t *testing.T) {
	_, openErr := os.Open("/data/facility-backup/PATIENT123/1.2.3/x.dcm")
	for _, c := range []struct {
		name string
		err  error
	}{
		{"path error", openErr},
		{"wrapped", fmt.Errorf("facility backup: %w", openErr)},
		{"joined", errors.Join(errors.New("spool"), openErr)},
		{"link error", &os.LinkError{Op: "link", Old: "/a/PATIENT123/x", New: "relative/PATIENT123/y", Err: os.ErrExist}},
		{"path in text", errors.New(`rename "/data/PATIENT123/x": busy`)},
	} {
		got := PublicError(c.err)
		if strings.Contains(got, "PATIENT123") || !strings.Contains(got, "[path]") {
			t.Errorf("%s: %q", c.name, got)
		}
	}
}
