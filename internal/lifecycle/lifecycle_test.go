package lifecycle

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
)

// recorder notes what the components do, in order.
type recorder struct {
	mu     sync.Mutex
	events []string
}

func (r *recorder) note(e string) {
	r.mu.Lock()
	r.events = append(r.events, e)
	r.mu.Unlock()
}

func (r *recorder) got() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.events)
}

// kind of component a test builds.
type kind int

const (
	startStop kind = iota // Start and Stop
	runner                // Start, Run (ready at once, until ctx ends) and Stop
	failStart             // Start fails
	failRun               // Run fails before it is ready
	endRun                // Run is ready, then ends with an error
	owns                  // only Stop: owns what was acquired before the group ran
)

var errBoom = errors.New("boom")

func component(rec *recorder, name string, k kind) Component {
	c := Component{
		Name:  name,
		Start: func(context.Context) error { rec.note("start " + name); return nil },
		Stop:  func(context.Context) error { rec.note("stop " + name); return nil },
	}
	switch k {
	case failStart:
		c.Start = func(context.Context) error { rec.note("start " + name); return errBoom }
	case runner:
		c.Run = func(ctx context.Context, ready func()) error {
			rec.note("run " + name)
			ready()
			<-ctx.Done()
			rec.note("ran " + name)
			return nil
		}
	case failRun:
		c.Run = func(context.Context, func()) error { rec.note("run " + name); return errBoom }
	case owns:
		c.Start = nil
	case endRun:
		c.Run = func(_ context.Context, ready func()) error { rec.note("run " + name); ready(); return errBoom }
	}
	return c
}

func TestGroup(t *testing.T) {
	for _, tc := range []struct {
		name   string
		kinds  []kind
		cancel bool // cancel the context once every component is ready
		want   []string
		err    string // "" for nil
	}{
		{
			name:   "start in order, stop in reverse",
			kinds:  []kind{startStop, runner, startStop, runner},
			cancel: true,
			want: []string{"start a", "start b", "run b", "start c", "start d", "run d",
				"ran d", "stop d", "stop c", "ran b", "stop b", "stop a"},
		},
		{
			name:  "a failed start stops the started ones",
			kinds: []kind{startStop, runner, failStart, startStop},
			want:  []string{"start a", "start b", "run b", "start c", "ran b", "stop b", "stop a"},
			err:   "starting c: boom",
		},
		{
			name:  "owned components are stopped even when the start fails before them",
			kinds: []kind{owns, startStop, failStart, owns, startStop},
			want:  []string{"start b", "start c", "stop d", "stop b", "stop a"},
			err:   "starting c: boom",
		},
		{
			name:   "owned components start and stop in their place",
			kinds:  []kind{owns, runner, owns},
			cancel: true,
			want:   []string{"start b", "run b", "stop c", "ran b", "stop b", "stop a"},
		},
		{
			name:  "a Run that fails before it is ready fails the start",
			kinds: []kind{startStop, failRun, startStop},
			want:  []string{"start a", "start b", "run b", "stop b", "stop a"},
			err:   "starting b: boom",
		},
		{
			name:  "a Run that ends stops the group",
			kinds: []kind{startStop, runner, endRun},
			want:  []string{"start a", "start b", "run b", "start c", "run c", "stop c", "ran b", "stop b", "stop a"},
			err:   "c: boom",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec := &recorder{}
			var g Group
			for i, k := range tc.kinds {
				g.Add(component(rec, string(rune('a'+i)), k))
			}
			ctx, cancel := context.WithCancel(t.Context())
			defer cancel()
			readyCalls := 0
			g.OnReady = func() {
				readyCalls++
				if err := g.NotReady(); err != nil {
					t.Errorf("OnReady while %v", err)
				}
				if tc.cancel {
					cancel()
				}
			}
			err := g.Run(ctx)
			if got := rec.got(); !slices.Equal(got, tc.want) {
				t.Errorf("events\n got %q\nwant %q", got, tc.want)
			}
			if (err == nil) != (tc.err == "") || err != nil && err.Error() != tc.err {
				t.Errorf("err = %v, want %q", err, tc.err)
			}
			if tc.err != "" && !errors.Is(err, errBoom) {
				t.Errorf("err = %v does not wrap the component's", err)
			}
			if wantReady := tc.cancel || strings.HasPrefix(tc.err, "c:"); (readyCalls == 1) != wantReady {
				t.Errorf("OnReady called %d times", readyCalls)
			}
			if err := g.NotReady(); err == nil {
				t.Error("ready after the group stopped")
			}
		})
	}
}

func TestReadinessPerComponent(t *testing.T) {
	var g Group
	release := make(chan struct{})
	inB := make(chan struct{})
	g.Add(Component{Name: "a"}, Component{Name: "b", Run: func(ctx context.Context, ready func()) error {
		close(inB)
		<-release
		ready()
		<-ctx.Done()
		return nil
	}}, Component{Name: "c"})
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	g.OnReady = cancel
	go func() { done <- g.Run(ctx) }()
	<-inB
	if err := g.NotReady(); err == nil || err.Error() != "starting or stopping: b, c" {
		t.Fatalf("while b starts: %v", err)
	}
	close(release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if got := g.Names(); !slices.Equal(got, []string{"a", "b", "c"}) {
		t.Fatalf("names %q", got)
	}
}

func TestStopWhileStarting(t *testing.T) {
	rec := &recorder{}
	var g Group
	ctx, cancel := context.WithCancel(t.Context())
	g.Add(component(rec, "a", startStop), Component{Name: "b", Run: func(ctx context.Context, ready func()) error {
		rec.note("run b")
		cancel() // the group is asked to stop before b is ready
		<-ctx.Done()
		rec.note("ran b")
		return nil
	}}, component(rec, "c", startStop), component(rec, "d", owns))
	if err := g.Run(ctx); err != nil {
		t.Fatalf("a group stopped while starting: %v", err)
	}
	if got, want := rec.got(), []string{"start a", "run b", "stop d", "ran b", "stop a"}; !slices.Equal(got, want) {
		t.Fatalf("events %q, want %q", got, want)
	}
}

func TestStopErrors(t *testing.T) {
	var g Group
	g.Add(Component{Name: "a", Stop: func(context.Context) error { return errBoom }},
		Component{Name: "b", Stop: func(context.Context) error { return errors.New("second") }})
	ctx, cancel := context.WithCancel(t.Context())
	g.OnReady = cancel
	err := g.Run(ctx)
	if err == nil || err.Error() != "stopping b: second\nstopping a: boom" {
		t.Fatalf("err = %v", err)
	}
}
