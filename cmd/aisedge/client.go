package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/aisedge/aisedge/internal/quarantine"
)

func init() {
	register(command{name: "status", summary: "show a running daemon's state (open studies, queues, quarantine, health)", run: runStatus})
	register(command{name: "quarantine", summary: "resolve quarantined instances: quarantine ls|show|requeue|release|discard", run: runQuarantine})
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
		return nil, connectionError{fmt.Errorf("no daemon answers on %s: %w", socket, err)}
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
			Edges map[string]struct {
				LastDelivery time.Time `json:"lastDelivery"`
				Delivered    int       `json:"delivered"`
			} `json:"edges"`
		}
		if err := json.Unmarshal(raw, &h); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "hub → %s: %d sealed generations waiting, %d dead letters\n", h.Destination, len(h.Pending), len(h.Dead))
		for _, d := range h.Dead {
			fmt.Fprintf(stdout, "  %s#%d: %s\n", d.Base, d.Generation, d.Reason)
		}
		edges := make([]string, 0, len(h.Edges))
		for n := range h.Edges {
			edges = append(edges, n)
		}
		sort.Strings(edges)
		for _, n := range edges {
			d := h.Edges[n]
			fmt.Fprintf(stdout, "  from %s: %d delivered, last successful delivery %s\n", n, d.Delivered, d.LastDelivery.Format(time.RFC3339))
		}
	}
	return nil
}

const quarantineUsage = `usage: aisedge quarantine VERB [flags] [ID...]

verbs:
  ls                         list the entries, oldest first (--code, --older-than select)
  show ID                    one entry as JSON
  requeue ID...              run again through the receiver, after fixing the route or the
                             profile (and restarting the daemon); held again, it keeps its ID
  release ID... --reason R   send on an instance held for pixel risk after looking at its
                             pixels; the reason is recorded in the audit log and the report
  discard ID...              remove the entry; the original stays in the facility backup

Instead of IDs, requeue, release and discard take a selection: --all, or --code CODE
and/or --older-than DURATION (discard of a selection also needs --yes). Every action is
appended to the daemon's audit log (<data-dir>/audit.jsonl) with --operator and --reason.

examples:
  aisedge quarantine ls
  aisedge quarantine requeue 20261206T031500Z-1a2b3c4d
  aisedge quarantine release --reason "screen capture checked: no text" 20261206T031500Z-1a2b3c4d
  aisedge quarantine discard --code "no project mapped for called AE title" --older-than 168h --yes
`

func runQuarantine(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("quarantine", stderr)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), quarantineUsage)
		fmt.Fprintln(fs.Output(), "\nflags:")
		fs.PrintDefaults()
	}
	socket := socketFlag(fs)
	all := fs.Bool("all", false, "select every entry")
	code := fs.String("code", "", "select the entries held for this reason `code` (as `quarantine ls` shows it: pixel-risk, gate, ...)")
	olderThan := fs.Duration("older-than", 0, "select the entries received longer ago than this `duration` (e.g. 24h)")
	yes := fs.Bool("yes", false, "discard a selection without listing it first")
	reason := fs.String("reason", "", "why: recorded in the audit log (required by release; do not write patient data)")
	operator := fs.String("operator", os.Getenv("USER"), "who: recorded in the audit log beside the user id the daemon sees")
	asJSON := fs.Bool("json", false, "ls: print JSON")
	pos, err := parseInterleaved(fs, args)
	if err != nil {
		return err
	}
	if len(pos) == 0 {
		return usageError{"want a verb: ls, show, requeue, release or discard (aisedge help quarantine)"}
	}
	verb, ids := pos[0], pos[1:]
	verbs := []string{"ls", "show", "requeue", "release", "discard"}
	if !slices.Contains(verbs, verb) {
		msg := fmt.Sprintf("unknown verb %q: want ls, show, requeue, release or discard", verb)
		if s := suggest(verb, verbs); s != "" {
			msg += "; did you mean " + s + "?"
		}
		return usageError{msg}
	}
	doc, err := fetchStatus(ctx, *socket)
	if err != nil {
		return err
	}
	var e struct {
		Quarantine []quarantine.Entry `json:"quarantine"`
	}
	if raw, ok := doc["edge"]; ok {
		json.Unmarshal(raw, &e)
	}
	sort.Slice(e.Quarantine, func(i, j int) bool { return e.Quarantine[i].ReceivedAt.Before(e.Quarantine[j].ReceivedAt) })
	selecting := *all || *code != "" || *olderThan > 0
	var selected []quarantine.Entry
	for _, q := range e.Quarantine {
		if (*code == "" || q.Code() == *code) && (*olderThan == 0 || time.Since(q.ReceivedAt) > *olderThan) {
			selected = append(selected, q)
		}
	}
	switch verb {
	case "ls":
		if *asJSON {
			b, _ := json.MarshalIndent(selected, "", "  ")
			fmt.Fprintln(stdout, string(b))
			return nil
		}
		for _, q := range selected {
			line := fmt.Sprintf("%s  %s  %s→%s  %s", q.ID, q.ReceivedAt.Format(time.RFC3339), q.CallingAET, q.CalledAET, strings.Join(q.Reasons, "; "))
			if q.Requeues > 0 {
				line += fmt.Sprintf("  (requeued %d×)", q.Requeues)
			}
			fmt.Fprintln(stdout, line)
		}
		return nil
	case "show":
		if len(ids) != 1 {
			return usageError{"show needs one ID"}
		}
		for _, q := range e.Quarantine {
			if q.ID == ids[0] {
				b, _ := json.MarshalIndent(q, "", "  ")
				fmt.Fprintln(stdout, string(b))
				return nil
			}
		}
		return fmt.Errorf("no quarantine entry %s", ids[0])
	}
	switch {
	case len(ids) > 0 && selecting:
		return usageError{"give IDs or a selection (--all, --code, --older-than), not both"}
	case len(ids) == 0 && !selecting:
		return usageError{verb + " needs IDs or a selection (--all, --code, --older-than)"}
	case verb == "release" && strings.TrimSpace(*reason) == "":
		return usageError{"release needs --reason: why the pixels are safe to send (recorded in the audit log)"}
	case selecting && len(selected) == 0:
		fmt.Fprintln(stdout, "no entry matches the selection")
		return nil
	case selecting && verb == "discard" && !*yes:
		for _, q := range selected {
			fmt.Fprintf(stdout, "%s  %s\n", q.ID, strings.Join(q.Reasons, "; "))
		}
		return usageError{fmt.Sprintf("discard of %d selected entries needs --yes (listed above)", len(selected))}
	}
	if selecting {
		for _, q := range selected {
			ids = append(ids, q.ID)
		}
	}
	body, _ := json.Marshal(map[string]string{"operator": *operator, "reason": *reason})
	done := map[string]string{"requeue": "requeued", "release": "released", "discard": "discarded (the original stays in the facility backup)"}[verb]
	var failed []string
	for _, id := range ids {
		req, _ := http.NewRequestWithContext(ctx, "POST", "http://aisedge/api/quarantine-"+verb+"/"+url.PathEscape(id), bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		resp, err := apiClient(*socket).Do(req)
		if err != nil {
			if ctx.Err() != nil {
				return interrupted{fmt.Sprintf("%s: interrupted after %d of %d entries", verb, len(ids)-len(failed), len(ids))}
			}
			return connectionError{fmt.Errorf("no daemon answers on %s: %w", *socket, err)}
		}
		msg, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			failed = append(failed, id)
			fmt.Fprintf(stdout, "%s: %s\n", id, strings.TrimSpace(string(msg)))
			continue
		}
		fmt.Fprintf(stdout, "%s %s\n", id, done)
	}
	switch {
	case len(failed) == 0:
		return nil
	case len(failed) == len(ids) && len(ids) == 1:
		return errors.New(verb + " failed")
	case len(failed) == len(ids):
		return fmt.Errorf("%s failed for all %d entries", verb, len(ids))
	default:
		return partialError{fmt.Sprintf("%s: %d of %d entries failed: %s", verb, len(failed), len(ids), strings.Join(failed, " "))}
	}
}
