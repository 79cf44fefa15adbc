package xnat

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"syscall"
	"testing"
	"time"

	"github.com/aisedge/aisedge/internal/fault"
)

func TestClassification(t *testing.T) {
	for _, code := range []int{500, 502, 503, 504, 408, 429} {
		if k := classifyStatus(code); k != fault.Transient {
			t.Errorf("status %d: %v, want transient", code, k)
		}
	}
	for _, code := range []int{400, 401, 403, 404, 406, 409, 417, 422, 301} {
		if k := classifyStatus(code); k != fault.Permanent {
			t.Errorf("status %d: %v, want permanent", code, k)
		}
	}
	transient := []error{
		&Error{Op: "x", Status: 502, kind: fault.Transient},
		fmt.Errorf("wrapped: %w", &Error{Op: "x", Status: 504, kind: fault.Transient}),
		&net.OpError{Op: "read", Err: syscall.ECONNRESET},
		fmt.Errorf("x: %w", syscall.ECONNREFUSED),
		io.ErrUnexpectedEOF,
		context.DeadlineExceeded,
		&VerifyError{V: Verification{Missing: []string{"a"}}},
		fmt.Errorf("x: %w", ErrAuth), // credentials are fixed, not the data
	}
	for _, err := range transient {
		if !IsTransient(err) || IsPermanent(err) {
			t.Errorf("%v: want transient", err)
		}
	}
	permanent := []error{
		&Error{Op: "x", Status: 403, kind: fault.Permanent},
		fmt.Errorf("x: %w", ErrProjectNotFound),
		fmt.Errorf("x: %w", ErrInsecureRedirect),
		&VerifyError{V: Verification{Mismatched: []Mismatch{{Path: "a"}}}},
		errors.Join(&Error{Op: "x", Status: 502, kind: fault.Transient}, fmt.Errorf("y: %w", ErrConflict)),
	}
	for _, err := range permanent {
		if !IsPermanent(err) {
			t.Errorf("%v: want permanent", err)
		}
	}
	for _, err := range []error{nil, context.Canceled, errors.New("plain")} {
		if IsPermanent(err) || IsTransient(err) {
			t.Errorf("%v: want neither", err)
		}
	}
}

func TestServerMessage(t *testing.T) {
	page := "<html><head><title>Status page</title></head><body><h3>Specified resource already exists.</h3></body></html>"
	if got := serverMessage([]byte(page)); got != "Specified resource already exists." {
		t.Fatalf("got %q", got)
	}
	if got := serverMessage([]byte("<!DOCTYPE html><html><body>login</body></html>")); got != "" {
		t.Fatalf("login page message %q", got)
	}
	for _, b := range []string{"<!DOCTYPE html>", "  <HTML>", "\ufeff<html lang=en>"} {
		if !looksHTML([]byte(b)) {
			t.Errorf("%q not seen as HTML", b)
		}
	}
	for _, b := range []string{"", "XNAT_E00001", `{"duplicates":["a"]}`} {
		if looksHTML([]byte(b)) {
			t.Errorf("%q seen as HTML", b)
		}
	}
}

func TestRetryPolicy(t *testing.T) {
	var waits []time.Duration
	p := RetryPolicy{Attempts: 4, Initial: 100 * time.Millisecond, Max: 250 * time.Millisecond,
		Sleep: func(_ context.Context, d time.Duration) error { waits = append(waits, d); return nil }}
	n := 0
	err := p.Do(context.Background(), func(context.Context) error {
		n++
		return &Error{Op: "x", Status: 502, kind: fault.Transient}
	})
	if n != 4 || len(waits) != 3 || statusOf(err) != 502 {
		t.Fatalf("tries %d waits %v err %v", n, waits, err)
	}
	for i, want := range []time.Duration{100, 200, 250} {
		w := want * time.Millisecond
		if waits[i] < w*8/10 || waits[i] > w*12/10 {
			t.Errorf("wait %d = %v, want %v ±20%%", i, waits[i], w)
		}
	}
	n = 0
	p.Do(context.Background(), func(context.Context) error { n++; return &Error{Op: "x", Status: 403, kind: fault.Permanent} })
	if n != 1 {
		t.Fatalf("permanent error retried %d times", n)
	}
	waits = nil
	p.Do(context.Background(), func(context.Context) error {
		return &Error{Op: "x", Status: 503, kind: fault.Transient, RetryAfter: 10 * time.Second}
	})
	if waits[0] != 250*time.Millisecond {
		t.Fatalf("Retry-After capped wait %v", waits[0])
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := (RetryPolicy{Attempts: 3}).Do(ctx, func(context.Context) error { return &Error{Op: "x", Status: 502, kind: fault.Transient} }); statusOf(err) != 502 {
		t.Fatalf("cancelled: %v", err)
	}
	if (RetryPolicy{}).Backoff(3) != 2*time.Second {
		t.Fatalf("default backoff(3) = %v", RetryPolicy{}.Backoff(3))
	}
}

func TestXSITypes(t *testing.T) {
	for _, c := range []struct {
		mods []string
		want string
	}{
		{[]string{"MR"}, "xnat:mrSessionData"},
		{[]string{"PT", "MR"}, "xnat:mrSessionData"},
		{[]string{"CT", "PT"}, "xnat:petSessionData"},
		{[]string{"SR", "CT"}, "xnat:ctSessionData"},
		{[]string{"cr"}, "xnat:crSessionData"},
		{[]string{"US"}, "xnat:usSessionData"},
		{[]string{"SR"}, "xnat:otherDicomSessionData"},
		{nil, "xnat:otherDicomSessionData"},
	} {
		if got := SessionXSIType(c.mods...); got != c.want {
			t.Errorf("SessionXSIType(%v) = %s, want %s", c.mods, got, c.want)
		}
	}
	for _, c := range []struct{ mod, imageType, session, want string }{
		{"MR", `ORIGINAL\PRIMARY\M`, "xnat:mrSessionData", "xnat:mrScanData"},
		{"CT", `DERIVED\SECONDARY\AXIAL`, "xnat:ctSessionData", "xnat:scScanData"},
		{"PT", "", "xnat:mrSessionData", "xnat:petScanData"},
		{"SR", "", "xnat:mrSessionData", "xnat:mrScanData"},
		{"SR", "", "xnat:otherDicomSessionData", "xnat:otherDicomScanData"},
	} {
		if got := ScanXSIType(c.mod, c.imageType, c.session); got != c.want {
			t.Errorf("ScanXSIType(%s, %s, %s) = %s, want %s", c.mod, c.imageType, c.session, got, c.want)
		}
	}
}
