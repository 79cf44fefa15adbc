package health

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Metric names of the probes.
const (
	ReachableMetric   = "aisedge_peer_reachable"
	LastSuccessMetric = "aisedge_peer_last_success_timestamp_seconds"
)

// Probe checks a peer the role depends on (the S3 endpoint, XNAT) from
// start-up on: at once, then every Interval while it answers and every
// RetryInterval while it does not. The first failure, and each change
// between reachable and unreachable, is logged at once; its state feeds
// readiness (Err), the status page and the metrics (Collector).
type Probe struct {
	// Peer names the peer in logs, metrics and readiness ("s3", "xnat").
	Peer string
	// Check tries the peer once (no retries; see objstore.NoRetry).
	Check func(ctx context.Context) error
	// Interval (default 30 s), RetryInterval (default 5 s) and Timeout of
	// one check (default 10 s).
	Interval, RetryInterval, Timeout time.Duration
	Log                              *slog.Logger
	// OnResult, if set, is called after each check with its number (from
	// 1) and error (the edge emits the original's alias_* events with it).
	OnResult func(attempt int, err error)
	Now      func() time.Time

	mu    sync.Mutex
	st    ProbeState
	wake  chan struct{}
	count int
}

// ProbeState is a probe's last result, value-free (error texts of network
// and S3/HTTP clients).
type ProbeState struct {
	Peer        string    `json:"peer"`
	Checked     bool      `json:"checked"`
	Reachable   bool      `json:"reachable"`
	Error       string    `json:"error,omitempty"`
	LastCheck   time.Time `json:"lastCheck,omitzero"`
	LastSuccess time.Time `json:"lastSuccess,omitzero"`
	// Since is when the current state (reachable or not) began.
	Since time.Time `json:"since,omitzero"`
}

func (p *Probe) defaults() {
	if p.Interval <= 0 {
		p.Interval = 30 * time.Second
	}
	if p.RetryInterval <= 0 {
		p.RetryInterval = 5 * time.Second
	}
	if p.Timeout <= 0 {
		p.Timeout = 10 * time.Second
	}
	if p.Log == nil {
		p.Log = slog.New(slog.DiscardHandler)
	}
	if p.Now == nil {
		p.Now = time.Now
	}
}

// Run checks until ctx ends.
func (p *Probe) Run(ctx context.Context) {
	p.mu.Lock()
	p.defaults()
	if p.wake == nil {
		p.wake = make(chan struct{}, 1)
	}
	wake := p.wake
	p.mu.Unlock()
	for {
		ok := p.CheckNow(ctx) == nil
		if ctx.Err() != nil {
			return
		}
		wait := p.Interval
		if !ok {
			wait = p.RetryInterval
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		case <-wake:
			t.Stop()
		}
	}
}

// Wake makes Run check now (e.g. after an upload failed).
func (p *Probe) Wake() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.wake == nil {
		p.wake = make(chan struct{}, 1)
	}
	select {
	case p.wake <- struct{}{}:
	default:
	}
}

// CheckNow runs one check, records and logs its result and returns its
// error.
func (p *Probe) CheckNow(ctx context.Context) error {
	p.mu.Lock()
	p.defaults()
	p.mu.Unlock()
	cctx, cancel := context.WithTimeout(ctx, p.Timeout)
	err := p.Check(cctx)
	cancel()
	if ctx.Err() != nil {
		return ctx.Err() // shutting down: not the peer's fault
	}
	now := p.Now()
	p.mu.Lock()
	p.count++
	n := p.count
	prev := p.st
	p.st.Peer, p.st.Checked, p.st.LastCheck = p.Peer, true, now
	if err == nil {
		p.st.Reachable, p.st.Error, p.st.LastSuccess = true, "", now
	} else {
		p.st.Reachable, p.st.Error = false, err.Error()
	}
	changed := !prev.Checked || prev.Reachable != p.st.Reachable
	if changed {
		p.st.Since = now
	}
	p.mu.Unlock()
	switch {
	case err != nil && changed:
		p.Log.Error(p.Peer+" unreachable; retrying", "peer", p.Peer, "err", err, "retryEvery", p.RetryInterval.String())
	case err != nil:
		p.Log.Debug(p.Peer+" still unreachable", "peer", p.Peer, "err", err, "attempt", n)
	case changed && prev.Checked:
		p.Log.Info(p.Peer+" reachable again", "peer", p.Peer, "downFor", now.Sub(prev.Since).Round(time.Second).String())
	case changed:
		p.Log.Info(p.Peer+" reachable", "peer", p.Peer)
	}
	if p.OnResult != nil {
		p.OnResult(n, err)
	}
	return err
}

// State returns the last result.
func (p *Probe) State() ProbeState {
	p.mu.Lock()
	defer p.mu.Unlock()
	st := p.st
	st.Peer = p.Peer
	return st
}

// Err is nil when the last check succeeded; otherwise it says why the
// peer is not (yet) known reachable. It is the probe's readiness check.
func (p *Probe) Err() error {
	st := p.State()
	switch {
	case !st.Checked:
		return fmt.Errorf("%s: not checked yet", p.Peer)
	case !st.Reachable:
		last := "never reached since start"
		if !st.LastSuccess.IsZero() {
			last = "last reached " + st.LastSuccess.UTC().Format(time.RFC3339)
		}
		return fmt.Errorf("%s unreachable (%s): %s", p.Peer, last, st.Error)
	}
	return nil
}

var (
	descReachable = prometheus.NewDesc(ReachableMetric,
		"1 when the peer (s3, xnat) answered the last reachability check, 0 when it did not or was not checked yet.", []string{"peer"}, nil)
	descLastSuccess = prometheus.NewDesc(LastSuccessMetric,
		"When the peer last answered a reachability check (Unix time in seconds; 0: not since start).", []string{"peer"}, nil)
)

// ProbeCollector exports the probes' state.
type ProbeCollector []*Probe

// Describe implements prometheus.Collector.
func (c ProbeCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- descReachable
	ch <- descLastSuccess
}

// Collect implements prometheus.Collector.
func (c ProbeCollector) Collect(ch chan<- prometheus.Metric) {
	for _, p := range c {
		st := p.State()
		up, last := 0.0, 0.0
		if st.Reachable {
			up = 1
		}
		if !st.LastSuccess.IsZero() {
			last = float64(st.LastSuccess.Unix())
		}
		ch <- prometheus.MustNewConstMetric(descReachable, prometheus.GaugeValue, up, p.Peer)
		ch <- prometheus.MustNewConstMetric(descLastSuccess, prometheus.GaugeValue, last, p.Peer)
	}
}
