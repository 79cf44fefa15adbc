package fault

import (
	"context"
	"errors"
	"fmt"
	"io"
	"syscall"
	"testing"
	"time"
)

type classed Class

func (c classed) Error() string     { return "classed " + Class(c).String() }
func (c classed) FaultClass() Class { return Class(c) }

func TestClassify(t *testing.T) {
	plain := errors.New("plain")
	for _, tc := range []struct {
		name string
		err  error
		want Class
	}{
		{"nil", nil, Unknown},
		{"plain", plain, Unknown},
		{"marked transient", MarkTransient(plain), Transient},
		{"marked permanent", MarkPermanent(plain), Permanent},
		{"held", Hold("waiting for an operator", plain), Held},
		{"held beats permanent", Hold("r", MarkPermanent(plain)), Held},
		{"permanent beats transient", errors.Join(MarkTransient(plain), MarkPermanent(plain)), Permanent},
		{"wrapped marker", fmt.Errorf("x: %w", MarkPermanent(plain)), Permanent},
		{"classifier", fmt.Errorf("x: %w", classed(Transient)), Transient},
		{"classifier in a join", errors.Join(plain, classed(Permanent)), Permanent},
		{"classifier unknown looks further", errors.Join(classed(Unknown), classed(Transient)), Transient},
		{"network errors are netfault's", syscall.ECONNRESET, Unknown},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := Classify(tc.err)
			if got != tc.want {
				t.Fatalf("Classify(%v) = %v, want %v", tc.err, got, tc.want)
			}
			if IsTransient(tc.err) != (tc.want == Transient) || IsPermanent(tc.err) != (tc.want == Permanent) ||
				IsHeld(tc.err) != (tc.want == Held) {
				t.Fatalf("Is* disagree with Classify for %v", tc.err)
			}
		})
	}
}

func TestMarkersKeepTheMessage(t *testing.T) {
	cause := errors.New("403 AccessDenied")
	for _, tc := range []struct {
		err  error
		want string
	}{
		{MarkPermanent(cause), "403 AccessDenied"},
		{MarkTransient(cause), "403 AccessDenied"},
		{Hold("shipment held after a permanent failure", cause), "shipment held after a permanent failure: 403 AccessDenied"},
	} {
		if tc.err.Error() != tc.want {
			t.Errorf("%q, want %q", tc.err.Error(), tc.want)
		}
		if !errors.Is(tc.err, cause) {
			t.Errorf("%v does not wrap its cause", tc.err)
		}
	}
	if MarkPermanent(nil) != nil || MarkTransient(nil) != nil || Hold("r", nil) != nil {
		t.Fatal("marking nil is not nil")
	}
	reason, ok := HeldReason(fmt.Errorf("a: %w", Hold("why", cause)))
	if !ok || reason != "why" {
		t.Fatalf("HeldReason = %q, %v", reason, ok)
	}
	if _, ok := HeldReason(cause); ok {
		t.Fatal("a plain error has a held reason")
	}
}

func TestBackoff(t *testing.T) {
	for _, tc := range []struct {
		name string
		b    Backoff
		want []time.Duration // nominal waits after attempts 1, 2, ...
	}{
		{"doubling capped", Backoff{Initial: time.Second, Max: 3 * time.Second}, []time.Duration{time.Second, 2 * time.Second, 3 * time.Second, 3 * time.Second}},
		{"triple", Backoff{Initial: 100 * time.Millisecond, Max: time.Second, Multiplier: 3}, []time.Duration{100 * time.Millisecond, 300 * time.Millisecond, 900 * time.Millisecond, time.Second}},
		{"no cap", Backoff{Initial: time.Millisecond}, []time.Duration{time.Millisecond, 2 * time.Millisecond, 4 * time.Millisecond}},
		{"zero", Backoff{}, []time.Duration{0, 0}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for i, want := range tc.want {
				if got := tc.b.Nominal(i + 1); got != want {
					t.Errorf("Nominal(%d) = %v, want %v", i+1, got, want)
				}
				if got := tc.b.Wait(i + 1); got != want {
					t.Errorf("Wait(%d) without jitter = %v, want %v", i+1, got, want)
				}
			}
		})
	}
	b := Backoff{Initial: 4 * time.Second, Max: 4 * time.Second, Jitter: 0.5}
	for range 200 {
		if w := b.Wait(3); w < 2*time.Second || w > 4*time.Second {
			t.Fatalf("jittered wait %v outside [2s, 4s]", w)
		}
	}
}

func TestRetryDo(t *testing.T) {
	transient, permanent := MarkTransient(errors.New("503")), MarkPermanent(errors.New("403"))
	for _, tc := range []struct {
		name      string
		errs      []error
		attempts  int
		wantCalls int
		wantErr   error
	}{
		{"success", nil, 4, 1, nil},
		{"transient then success", []error{transient, transient}, 4, 3, nil},
		{"permanent", []error{permanent}, 4, 1, permanent},
		{"unclassified", []error{io.ErrShortWrite}, 4, 1, io.ErrShortWrite},
		{"exhausted", []error{transient, transient, transient, transient, transient}, 4, 4, transient},
		{"one attempt", []error{transient}, 0, 1, transient},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var waits []time.Duration
			var retried []int
			r := Retry{Attempts: tc.attempts, Backoff: Backoff{Initial: time.Second, Max: 3 * time.Second},
				OnRetry: func(attempt int, _ error, _ time.Duration) { retried = append(retried, attempt) },
				Sleep:   func(ctx context.Context, d time.Duration) error { waits = append(waits, d); return ctx.Err() }}
			calls := 0
			err := r.Do(t.Context(), func(context.Context) error {
				calls++
				if calls <= len(tc.errs) {
					return tc.errs[calls-1]
				}
				return nil
			})
			if calls != tc.wantCalls || !errors.Is(err, tc.wantErr) || (tc.wantErr == nil) != (err == nil) {
				t.Fatalf("calls %d err %v; want %d, %v", calls, err, tc.wantCalls, tc.wantErr)
			}
			if len(waits) != calls-1 || len(retried) != calls-1 {
				t.Fatalf("%d waits, %d OnRetry for %d calls", len(waits), len(retried), calls)
			}
			for i, w := range waits {
				if want := min(time.Second<<i, 3*time.Second); w != want || retried[i] != i+1 {
					t.Errorf("wait %d = %v after attempt %d, want %v after %d", i, w, retried[i], want, i+1)
				}
			}
		})
	}
}

func TestRetryMinWaitAndCancel(t *testing.T) {
	hinted := classed(Transient)
	var waits []time.Duration
	r := Retry{Attempts: 2, Backoff: Backoff{Initial: time.Millisecond, Max: time.Second},
		MinWait: func(error) time.Duration { return time.Hour },
		Sleep:   func(_ context.Context, d time.Duration) error { waits = append(waits, d); return nil }}
	r.Do(t.Context(), func(context.Context) error { return hinted })
	if len(waits) != 1 || waits[0] != time.Second {
		t.Fatalf("waits %v, want the hint capped at 1s", waits)
	}

	ctx, cancel := context.WithCancel(t.Context())
	r = Retry{Attempts: 5, Backoff: Backoff{Initial: time.Hour}, OnRetry: func(int, error, time.Duration) { cancel() }}
	start := time.Now()
	err := r.Do(ctx, func(context.Context) error { return hinted })
	if !errors.Is(err, context.Canceled) || !errors.Is(err, hinted) {
		t.Fatalf("err = %v, want the last error and context.Canceled", err)
	}
	if time.Since(start) > time.Minute { // well under the hour, however slow the machine
		t.Fatal("did not stop waiting on cancel")
	}
}

func TestSleep(t *testing.T) {
	if err := Sleep(t.Context(), time.Millisecond); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if err := Sleep(ctx, time.Hour); !errors.Is(err, context.Canceled) {
		t.Fatalf("Sleep on a cancelled context = %v", err)
	}
}
