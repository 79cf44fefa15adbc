package kube

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// Kinds Wait waits for; other kinds are ready once applied.
var waitable = map[string]bool{
	"Deployment.apps": true, "Certificate.cert-manager.io": true,
	"CustomResourceDefinition.apiextensions.k8s.io": true, "Cluster.k0smotron.io": true,
}

// Ready reports whether an object has reached its ready state and, if not,
// what it is waiting for. Kinds without a notion of readiness are ready.
func Ready(u *unstructured.Unstructured) (bool, string) {
	switch u.GroupVersionKind().GroupKind().String() {
	case "Deployment.apps":
		want, found, _ := unstructured.NestedInt64(u.Object, "spec", "replicas")
		if !found {
			want = 1
		}
		gen := u.GetGeneration()
		obs, _, _ := unstructured.NestedInt64(u.Object, "status", "observedGeneration")
		avail, _, _ := unstructured.NestedInt64(u.Object, "status", "availableReplicas")
		upd, _, _ := unstructured.NestedInt64(u.Object, "status", "updatedReplicas")
		if obs < gen {
			return false, "rollout not observed yet"
		}
		if upd < want || avail < want {
			return false, fmt.Sprintf("%d/%d updated, %d/%d available", upd, want, avail, want)
		}
		return true, ""
	case "Certificate.cert-manager.io":
		return condition(u, "Ready")
	case "CustomResourceDefinition.apiextensions.k8s.io":
		return condition(u, "Established")
	case "Cluster.k0smotron.io":
		if r, _, _ := unstructured.NestedBool(u.Object, "status", "ready"); r {
			return true, ""
		}
		st, _, _ := unstructured.NestedString(u.Object, "status", "reconciliationStatus")
		if st == "" {
			st = "control plane not ready"
		}
		return false, st
	case "Namespace":
		if p, _, _ := unstructured.NestedString(u.Object, "status", "phase"); p != "" && p != "Active" {
			return false, "phase " + p
		}
		return true, ""
	}
	return true, ""
}

// condition checks status.conditions[type].status == "True".
func condition(u *unstructured.Unstructured, typ string) (bool, string) {
	conds, _, _ := unstructured.NestedSlice(u.Object, "status", "conditions")
	for _, c := range conds {
		m, _ := c.(map[string]any)
		if m["type"] == typ {
			if m["status"] == "True" {
				return true, ""
			}
			msg, _ := m["message"].(string)
			if msg == "" {
				msg, _ = m["reason"].(string)
			}
			return false, typ + "=" + fmt.Sprint(m["status"]) + " " + msg
		}
	}
	return false, "no " + typ + " condition yet"
}

// Wait polls the objects until every one is ready, printing what is still
// pending every ProgressInterval. It returns an error naming the objects
// still not ready, each with what it last waited for, at the timeout.
// Like kubectl wait, it checks every object once whatever the timeout
// (those checks are bounded by ctx only, as Apply's requests are): the
// timeout bounds the waiting for objects seen not ready, so that a slow
// server makes a short timeout report "not ready" with the reason, not
// the error of a request it cut. A dry run does not wait.
func (c *Client) Wait(ctx context.Context, objs []*unstructured.Unstructured, timeout time.Duration) error {
	if c.DryRun {
		return nil
	}
	pending := map[string]*unstructured.Unstructured{}
	for _, o := range objs {
		if waitable[o.GroupVersionKind().GroupKind().String()] {
			pending[describe(o)] = o
		}
	}
	start := time.Now()
	deadline := start.Add(timeout)
	tctx, cancel := context.WithDeadline(ctx, deadline)
	defer cancel()
	lastProgress := start.Add(-c.ProgressInterval) // say at once what is pending
	why := map[string]string{}
	for first := true; ; first = false {
		rctx := tctx
		if first {
			rctx = ctx
		}
		for name, o := range pending {
			live, err := c.Get(rctx, o.GroupVersionKind(), o.GetNamespace(), o.GetName())
			switch {
			case err != nil && (ctx.Err() != nil || (!first && !time.Now().Before(deadline))):
				// Stopped or timed out (the client's rate limiter says
				// so before the context does): keep the last known
				// reason.
			case err != nil:
				why[name] = err.Error()
			case live == nil:
				why[name] = "not found"
			default:
				if ok, w := Ready(live); ok {
					delete(pending, name)
					delete(why, name)
					c.printf("%s ready (%s)", name, time.Since(start).Round(time.Second))
				} else {
					why[name] = w
				}
			}
		}
		if len(pending) == 0 {
			return nil
		}
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("%s: stopped waiting after %s (%v), not ready:\n  %s", c.Name, time.Since(start).Round(time.Second), err, lines(pending, why))
		}
		if !time.Now().Before(deadline) {
			return fmt.Errorf("%s: not ready after %s:\n  %s", c.Name, timeout, lines(pending, why))
		}
		if time.Since(lastProgress) >= c.ProgressInterval {
			lastProgress = time.Now()
			c.printf("waiting (%s): %s", time.Since(start).Round(time.Second), strings.ReplaceAll(lines(pending, why), "\n  ", "; "))
		}
		select {
		case <-tctx.Done():
		case <-time.After(c.PollInterval):
		}
	}
}

// lines lists the pending objects with what each waits for.
func lines(pending map[string]*unstructured.Unstructured, why map[string]string) string {
	var out []string
	for n := range pending {
		w := why[n]
		if w == "" {
			w = "not checked"
		}
		out = append(out, n+": "+w)
	}
	sort.Strings(out)
	return strings.Join(out, "\n  ")
}
