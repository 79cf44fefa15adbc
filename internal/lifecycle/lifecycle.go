// Package lifecycle starts the components of a process in order and stops
// them in reverse: the order in which a role (edge, hub, or both in `aisedge
// run`) is assembled is the order in which it comes up, and a component is
// stopped only after every component started after it (which may use it)
// has stopped. It reports readiness per component.
//
// It owns no component; cmd/aisedge assembles the roles from it. Any
// package may import it; it imports only the standard library.
package lifecycle

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"
)

// Component is one part of a process. Every field but Name is optional. A
// component with only Stop owns something acquired before the group runs
// (when the process was assembled): it counts as started from the outset,
// so the group stops it whenever it stops, even if the start failed or
// was cut short before reaching it.
type Component struct {
	// Name names the component in logs, errors and readiness.
	Name string
	// Start acquires and starts what Run and later components need, and
	// returns once that is done. ctx ends when the group is asked to stop
	// while starting; work that outlives Start belongs in Run.
	Start func(ctx context.Context) error
	// Run is the component's work, in a goroutine of its own, until ctx
	// ends. It calls ready once it serves: the next component starts only
	// then. A Run that returns before the group stops (with an error or
	// nil) stops the group; one that returns before calling ready fails
	// the start.
	Run func(ctx context.Context, ready func()) error
	// Stop releases what Start acquired. It is called once, after Run has
	// returned, and after every later component has stopped; its ctx ends
	// after Group.StopTimeout.
	Stop func(ctx context.Context) error
}

// Group runs components. The zero value is usable; add components with Add
// before Run.
type Group struct {
	// Log receives a line per component started and stopped (nil: none).
	Log *slog.Logger
	// StopTimeout bounds each Stop (default 30 s).
	StopTimeout time.Duration
	// OnReady, if set, is called once every component is ready.
	OnReady func()

	comps []Component
	mu    sync.Mutex
	ready []bool
}

// Add appends components; they start in the order added.
func (g *Group) Add(cs ...Component) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.comps = append(g.comps, cs...)
	g.ready = append(g.ready, make([]bool, len(cs))...)
}

// Names returns the components' names in start order.
func (g *Group) Names() []string {
	g.mu.Lock()
	defer g.mu.Unlock()
	names := make([]string, len(g.comps))
	for i, c := range g.comps {
		names[i] = c.Name
	}
	return names
}

// NotReady returns nil when every component is ready, else an error naming
// those that are not (still starting, or stopping). It fits api's
// readiness checks.
func (g *Group) NotReady() error {
	g.mu.Lock()
	defer g.mu.Unlock()
	var not []string
	for i, c := range g.comps {
		if !g.ready[i] {
			not = append(not, c.Name)
		}
	}
	if len(not) == 0 {
		return nil
	}
	return fmt.Errorf("starting or stopping: %s", strings.Join(not, ", "))
}

func (g *Group) setReady(i int, v bool) {
	g.mu.Lock()
	g.ready[i] = v
	g.mu.Unlock()
}

func (g *Group) log(msg string, args ...any) {
	if g.Log != nil {
		g.Log.Info(msg, args...)
	}
}

// running is a started component.
type running struct {
	Component
	index  int // in the group
	cancel context.CancelFunc
	done   chan struct{} // closed when Run returned (nil without Run)
	err    error         // Run's error, valid after done
}

// Run starts the components in order, then waits until ctx ends or a
// component's Run returns, and then stops the started components in
// reverse order. If a component fails to start, the ones already started
// are stopped (in reverse) and its error is returned. Otherwise Run returns
// the error of the Run that ended the group, if any, joined with the errors
// of Stop; a group stopped by ctx returns nil and Stop's errors.
func (g *Group) Run(ctx context.Context) error {
	g.mu.Lock()
	comps := append([]Component(nil), g.comps...)
	g.mu.Unlock()
	ended := make(chan *running, len(comps))
	var started []*running
	for i, c := range comps {
		r, err := g.start(ctx, i, c, ended)
		if r != nil {
			started = append(started, r)
		}
		if err != nil {
			if ctx.Err() != nil && errors.Is(err, ctx.Err()) {
				err = nil // asked to stop while starting
			} else {
				err = fmt.Errorf("starting %s: %w", c.Name, err)
			}
			for j, later := range comps[i+1:] {
				if owned(later) {
					started = append(started, &running{Component: later, index: i + 1 + j, cancel: func() {}})
				}
			}
			return errors.Join(err, g.stop(started))
		}
	}
	if g.OnReady != nil {
		g.OnReady()
	}
	var runErr error
	select {
	case <-ctx.Done():
	case r := <-ended:
		if r.err != nil {
			runErr = fmt.Errorf("%s: %w", r.Name, r.err)
		} else {
			g.log("component ended; stopping", "component", r.Name)
		}
	}
	return errors.Join(runErr, g.stop(started))
}

// start starts component i. It returns the running component whenever
// something was started that must be stopped, also on error.
func (g *Group) start(ctx context.Context, i int, c Component, ended chan *running) (*running, error) {
	if owned(c) {
		g.setReady(i, true)
		g.log("component started", "component", c.Name)
		return &running{Component: c, index: i, cancel: func() {}}, nil
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if c.Start != nil {
		if err := c.Start(ctx); err != nil {
			return nil, err
		}
	}
	// The component's own context ends when it is stopped, not when the
	// group's does: components stop one by one, in reverse order.
	cctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	r := &running{Component: c, index: i, cancel: cancel}
	if c.Run == nil {
		g.setReady(i, true)
		g.log("component started", "component", c.Name)
		return r, nil
	}
	r.done = make(chan struct{})
	readyc := make(chan struct{})
	var once sync.Once
	ready := func() {
		once.Do(func() {
			g.setReady(i, true)
			close(readyc)
		})
	}
	go func() {
		r.err = c.Run(cctx, ready)
		close(r.done)
		ended <- r
	}()
	select {
	case <-readyc:
		g.log("component started", "component", c.Name)
		return r, nil
	case <-r.done:
		select {
		case <-readyc: // ready, then ended at once: the group sees it end
			g.log("component started", "component", c.Name)
			return r, nil
		default:
		}
		<-ended // it never started: its end is this error, not the group's
		if r.err == nil {
			r.err = errors.New("ended before it was ready")
		}
		return r, r.err
	case <-ctx.Done():
		return r, ctx.Err()
	}
}

// owned reports whether c only owns something acquired before the group
// ran.
func owned(c Component) bool { return c.Start == nil && c.Run == nil && c.Stop != nil }

// stop stops the started components in reverse order.
func (g *Group) stop(started []*running) error {
	timeout := g.StopTimeout
	if timeout <= 0 {
		timeout = 30 * time.Second
	}
	var errs []error
	for i := len(started) - 1; i >= 0; i-- {
		r := started[i]
		g.setReady(r.index, false)
		r.cancel()
		if r.done != nil {
			<-r.done
		}
		if r.Stop != nil {
			ctx, cancel := context.WithTimeout(context.Background(), timeout)
			if err := r.Stop(ctx); err != nil {
				errs = append(errs, fmt.Errorf("stopping %s: %w", r.Name, err))
			}
			cancel()
		}
		g.log("component stopped", "component", r.Name)
	}
	return errors.Join(errs...)
}
