package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"path/filepath"
	"sort"
	"strings"
	"time"
)

func init() {
	register(command{name: "status", summary: "show a running daemon's state (open studies, queues, quarantine, health)", run: runStatus})
	register(command{name: "quarantine", summary: "list, show or requeue quarantined instances: quarantine ls|show ID|requeue ID", run: runQuarantine})
}

// socketFlag adds --socket with its default under the standalone data dir.
func socketFlag(fs *flag.FlagSet) *string {
	return fs.String("socket", filepath.Join("aisedge-data", "aisedge.sock"), "the daemon's local API `socket`")
}

// apiClient talks to a daemon's local API over its unix socket.
func apiClient(socket string) *http.Client {
	return &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", socket)
		},
	}}
}

func fetchStatus(ctx context.Context, socket string) (map[string]json.RawMessage, error) {
	req, _ := http.NewRequestWithContext(ctx, "GET", "http://aisedge/api/status", nil)
	resp, err := apiClient(socket).Do(req)
	if err != nil {
		return nil, fmt.Errorf("no daemon answers on %s: %w", socket, err)
	}
	defer resp.Body.Close()
	var doc map[string]json.RawMessage
	if err := json.NewDecoder(resp.Body).Decode(&doc); err != nil {
		return nil, err
	}
	return doc, nil
}

func runStatus(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("status", stderr)
	socket := socketFlag(fs)
	asJSON := fs.Bool("json", false, "print the raw JSON document")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	doc, err := fetchStatus(ctx, *socket)
	if err != nil {
		return err
	}
	if *asJSON {
		b, _ := json.MarshalIndent(doc, "", "  ")
		fmt.Fprintln(stdout, string(b))
		return nil
	}
	var ready bool
	json.Unmarshal(doc["ready"], &ready)
	fmt.Fprintf(stdout, "ready: %v\n", ready)
	var checks map[string]struct {
		OK    bool   `json:"ok"`
		Error string `json:"error"`
	}
	json.Unmarshal(doc["checks"], &checks)
	names := make([]string, 0, len(checks))
	for n := range checks {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		if c := checks[n]; c.OK {
			fmt.Fprintf(stdout, "%s: reachable\n", n)
		} else {
			fmt.Fprintf(stdout, "%s: %s\n", n, c.Error)
		}
	}
	if raw, ok := doc["edge"]; ok {
		var e struct {
			Edge   string `json:"edge"`
			Listen string `json:"listen"`
			Open   []struct {
				Session string  `json:"session"`
				Pending int     `json:"pending"`
				Age     float64 `json:"ageSeconds"`
				Idle    float64 `json:"idleSeconds"`
			} `json:"openStudies"`
			Queued []struct {
				Session    string `json:"session"`
				Project    string `json:"project"`
				Subject    string `json:"subject"`
				Generation int    `json:"generation"`
				State      string `json:"state"`
				Attempts   int    `json:"attempts"`
				LastError  string `json:"lastError"`
				Held       bool   `json:"held"`
			} `json:"queuedShipments"`
			Quarantine []json.RawMessage `json:"quarantine"`
			LastUpload time.Time         `json:"lastUpload"`
			LastError  string            `json:"lastError"`
		}
		if err := json.Unmarshal(raw, &e); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "edge %s, DICOM on %s\n", e.Edge, e.Listen)
		fmt.Fprintf(stdout, "open studies: %d\n", len(e.Open))
		for _, s := range e.Open {
			fmt.Fprintf(stdout, "  %-50s %5d instances  age %s  idle %s\n", s.Session, s.Pending, time.Duration(s.Age)*time.Second, time.Duration(s.Idle)*time.Second)
		}
		fmt.Fprintf(stdout, "queued shipments: %d\n", len(e.Queued))
		for _, q := range e.Queued {
			line := fmt.Sprintf("  %s.%s.%s generation %d: %s", q.Project, q.Subject, q.Session, q.Generation, q.State)
			if q.Held {
				line += " (HELD)"
			}
			if q.LastError != "" {
				line += fmt.Sprintf(", %d attempts, last error: %s", q.Attempts, q.LastError)
			}
			fmt.Fprintln(stdout, line)
		}
		fmt.Fprintf(stdout, "quarantined instances: %d\n", len(e.Quarantine))
		if e.LastUpload.IsZero() {
			fmt.Fprintln(stdout, "last successful upload: none since start")
		} else {
			fmt.Fprintf(stdout, "last successful upload: %s\n", e.LastUpload.Format(time.RFC3339))
		}
		if e.LastError != "" {
			fmt.Fprintf(stdout, "last upload error: %s\n", e.LastError)
		}
	}
	if raw, ok := doc["hub"]; ok {
		var h struct {
			Destination string            `json:"destination"`
			Pending     []json.RawMessage `json:"pending"`
			Dead        []struct {
				Base       string `json:"base"`
				Generation int    `json:"generation"`
				Reason     string `json:"reason"`
			} `json:"deadLetters"`
		}
		if err := json.Unmarshal(raw, &h); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "hub → %s: %d sealed generations waiting, %d dead letters\n", h.Destination, len(h.Pending), len(h.Dead))
		for _, d := range h.Dead {
			fmt.Fprintf(stdout, "  %s#%d: %s\n", d.Base, d.Generation, d.Reason)
		}
	}
	return nil
}

func runQuarantine(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("quarantine", stderr)
	socket := socketFlag(fs)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() == 0 {
		return usageError{"want ls, show ID or requeue ID"}
	}
	doc, err := fetchStatus(ctx, *socket)
	if err != nil {
		return err
	}
	var e struct {
		Quarantine []struct {
			ID         string    `json:"id"`
			ReceivedAt time.Time `json:"receivedAt"`
			CalledAET  string    `json:"calledAET"`
			CallingAET string    `json:"callingAET"`
			SOPHash    string    `json:"sopHash"`
			Reasons    []string  `json:"reasons"`
		} `json:"quarantine"`
	}
	if raw, ok := doc["edge"]; ok {
		json.Unmarshal(raw, &e)
	}
	sort.Slice(e.Quarantine, func(i, j int) bool { return e.Quarantine[i].ReceivedAt.Before(e.Quarantine[j].ReceivedAt) })
	switch verb := fs.Arg(0); verb {
	case "ls":
		for _, q := range e.Quarantine {
			fmt.Fprintf(stdout, "%s  %s  %s→%s  %s\n", q.ID, q.ReceivedAt.Format(time.RFC3339), q.CallingAET, q.CalledAET, strings.Join(q.Reasons, "; "))
		}
		return nil
	case "show":
		if fs.NArg() != 2 {
			return usageError{"show needs an ID"}
		}
		for _, q := range e.Quarantine {
			if q.ID == fs.Arg(1) {
				b, _ := json.MarshalIndent(q, "", "  ")
				fmt.Fprintln(stdout, string(b))
				return nil
			}
		}
		return fmt.Errorf("no quarantine entry %s", fs.Arg(1))
	case "requeue":
		if fs.NArg() != 2 {
			return usageError{"requeue needs an ID"}
		}
		req, _ := http.NewRequestWithContext(ctx, "POST", "http://aisedge/api/quarantine-requeue/"+url.PathEscape(fs.Arg(1)), nil)
		resp, err := apiClient(*socket).Do(req)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusOK {
			return errors.New(strings.TrimSpace(string(body)))
		}
		fmt.Fprintf(stdout, "requeued %s\n", fs.Arg(1))
		return nil
	default:
		return usageError{fmt.Sprintf("unknown verb %q: want ls, show or requeue", verb)}
	}
}
