// Command flux-ssa is mlsync's benchmark peer for Flux: it applies a multi-document YAML of
// Kubernetes objects (the output of `mlsync render`) with github.com/fluxcd/pkg/ssa's
// ResourceManager, the engine Flux's kustomize-controller applies with, set up the way that
// controller sets it up:
//
//   - objects are normalized (native defaults) and get the owner labels
//     kustomize.toolkit.fluxcd.io/name and /namespace;
//   - ApplyAllStaged: Namespaces (and CRDs, ClusterRoles) first, then everything else; each object
//     is read, dry-run applied and compared with the live object (the drift check), and only
//     objects that are new or differ are applied (server-side apply, forced, field manager
//     kustomize-controller), 4 at a time (the controller's --concurrent-ssa default);
//   - metadata left by kubectl (last-applied annotation, kubectl managers) is cleaned up;
//   - objects that were in the previous inventory but are no longer in the file are deleted with
//     DeleteAll, if they still carry the owner labels. The inventory (Flux keeps it in the
//     Kustomization's status) is a small JSON file here.
//
// It prints what changed (created, configured = drifted or changed, deleted) and a summary.
// With -diff it only reports drift (server-side dry-run per object) and writes nothing.
//
// Usage: flux-ssa -f manifests.yaml -inventory inv.json [-kubeconfig FILE] [-user-agent UA]
//
// Exit codes: 0 done (with -diff: no drift), 1 (-diff only) drift found, 2 error.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"sort"
	"time"

	"github.com/fluxcd/cli-utils/pkg/kstatus/polling"
	"github.com/fluxcd/pkg/ssa"
	"github.com/fluxcd/pkg/ssa/normalize"
	ssautils "github.com/fluxcd/pkg/ssa/utils"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// ownerGroup is the label prefix and API group of Flux's Kustomization.
const ownerGroup = "kustomize.toolkit.fluxcd.io"

type options struct {
	file         string
	kubeconfig   string
	inventory    string
	name         string
	namespace    string
	fieldManager string
	userAgent    string
	concurrency  int
	qps          float64
	burst        int
	prune        bool
	diff         bool
	verbose      bool
	timeout      time.Duration
}

func parseFlags() options {
	var o options
	flag.StringVar(&o.file, "f", "", "multi-document YAML of the objects to apply (- for stdin)")
	flag.StringVar(&o.kubeconfig, "kubeconfig", os.Getenv("KUBECONFIG"), "kubeconfig file")
	flag.StringVar(&o.inventory, "inventory", "", "inventory file (JSON) of the objects applied last time; needed for pruning")
	flag.StringVar(&o.name, "name", "bench", "name of the Kustomization this run stands for (owner label)")
	flag.StringVar(&o.namespace, "namespace", "flux-system", "namespace of that Kustomization (owner label)")
	flag.StringVar(&o.fieldManager, "field-manager", "kustomize-controller", "server-side apply field manager")
	flag.StringVar(&o.userAgent, "user-agent", "flux-ssa-bench", "HTTP User-Agent (the audit log attributes requests by it)")
	flag.IntVar(&o.concurrency, "concurrency", 4, "objects checked for drift at once (kustomize-controller --concurrent-ssa)")
	flag.Float64Var(&o.qps, "qps", -1, "client-side rate limit; negative: none (Flux's choice when the server has API Priority and Fairness)")
	flag.IntVar(&o.burst, "burst", 300, "client-side burst (Flux's --kube-api-burst default)")
	flag.BoolVar(&o.prune, "prune", true, "delete objects of the previous inventory that left the file")
	flag.BoolVar(&o.diff, "diff", false, "only report drift (server-side dry-run); write nothing")
	flag.BoolVar(&o.verbose, "v", false, "also list unchanged objects")
	flag.DurationVar(&o.timeout, "timeout", 10*time.Minute, "give up after this long")
	flag.Parse()
	return o
}

func main() {
	o := parseFlags()
	code, err := run(o)
	if err != nil {
		fmt.Fprintf(os.Stderr, "flux-ssa: %v\n", err)
	}
	os.Exit(code)
}

func run(o options) (int, error) {
	if o.file == "" {
		return 2, fmt.Errorf("-f is required")
	}
	if o.prune && !o.diff && o.inventory == "" {
		return 2, fmt.Errorf("-inventory is required for pruning (or pass -prune=false)")
	}
	objects, err := readObjects(o.file)
	if err != nil {
		return 2, err
	}
	manager, err := newManager(o)
	if err != nil {
		return 2, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), o.timeout)
	defer cancel()

	manager.SetOwnerLabels(objects, o.name, o.namespace)
	if err := normalize.UnstructuredList(objects); err != nil {
		return 2, fmt.Errorf("failed to normalize the objects: %w", err)
	}
	if o.diff {
		return diff(ctx, manager, objects)
	}

	start := time.Now()
	changeSet, err := manager.ApplyAllStaged(ctx, objects, applyOptions(o.fieldManager))
	if changeSet != nil {
		printEntries(changeSet.Entries, o.verbose)
	}
	if err != nil {
		return 2, fmt.Errorf("failed to apply: %w", err)
	}
	summary := countActions(changeSet.Entries)

	if o.inventory != "" {
		newInv := inventoryOf(objects)
		if o.prune {
			oldInv, err := readInventory(o.inventory)
			if err != nil {
				return 2, err
			}
			stale := oldInv.minus(newInv)
			if len(stale) > 0 {
				deleted, err := manager.DeleteAll(ctx, stale, ssa.DeleteOptions{
					PropagationPolicy: metav1.DeletePropagationBackground,
					Inclusions:        manager.GetOwnerLabels(o.name, o.namespace),
					Exclusions:        map[string]string{ownerGroup + "/prune": "disabled"},
				})
				if deleted != nil {
					printEntries(deleted.Entries, o.verbose)
					for a, n := range countActions(deleted.Entries) {
						summary[a] += n
					}
				}
				if err != nil {
					return 2, fmt.Errorf("failed to prune: %w", err)
				}
			}
		}
		if err := newInv.write(o.inventory); err != nil {
			return 2, err
		}
	}
	fmt.Printf("objects: %d, %s in %s\n", len(objects), formatSummary(summary), time.Since(start).Round(time.Millisecond))
	return 0, nil
}

func readObjects(path string) ([]*unstructured.Unstructured, error) {
	var r io.Reader = os.Stdin
	if path != "-" {
		f, err := os.Open(path)
		if err != nil {
			return nil, fmt.Errorf("failed to open %s: %w", path, err)
		}
		defer f.Close()
		r = f
	}
	objects, err := ssautils.ReadObjects(r)
	if err != nil {
		return nil, fmt.Errorf("failed to read objects from %s: %w", path, err)
	}
	return objects, nil
}

// newManager builds the ResourceManager on an uncached controller-runtime client (what
// kustomize-controller applies with) and a status poller (ApplyAllStaged waits for Namespaces).
func newManager(o options) (*ssa.ResourceManager, error) {
	cfg, err := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(
		&clientcmd.ClientConfigLoadingRules{ExplicitPath: o.kubeconfig}, &clientcmd.ConfigOverrides{},
	).ClientConfig()
	if err != nil {
		return nil, fmt.Errorf("failed to load kubeconfig %q: %w", o.kubeconfig, err)
	}
	cfg.UserAgent = o.userAgent
	cfg.QPS = float32(o.qps)
	cfg.Burst = o.burst
	c, err := client.New(cfg, client.Options{})
	if err != nil {
		return nil, fmt.Errorf("failed to create the Kubernetes client: %w", err)
	}
	poller := polling.NewStatusPoller(c, c.RESTMapper(), polling.Options{})
	m := ssa.NewResourceManager(c, poller, ssa.Owner{Field: o.fieldManager, Group: ownerGroup})
	m.SetConcurrency(o.concurrency)
	return m, nil
}

// applyOptions are kustomize-controller's (for a Kustomization without force or wait).
func applyOptions(fieldManager string) ssa.ApplyOptions {
	opts := ssa.DefaultApplyOptions()
	opts.ExclusionSelector = map[string]string{
		ownerGroup + "/reconcile": "disabled",
		ownerGroup + "/ssa":       "Ignore",
	}
	opts.IfNotPresentSelector = map[string]string{ownerGroup + "/ssa": "IfNotPresent"}
	opts.Cleanup = ssa.ApplyCleanupOptions{
		Annotations: []string{corev1.LastAppliedConfigAnnotation},
		FieldManagers: []ssa.FieldManager{
			{Name: "kubectl", OperationType: metav1.ManagedFieldsOperationApply},
			{Name: "kubectl", OperationType: metav1.ManagedFieldsOperationUpdate},
			{Name: "before-first-apply", OperationType: metav1.ManagedFieldsOperationUpdate},
			{Name: fieldManager, OperationType: metav1.ManagedFieldsOperationUpdate},
		},
		Exclusions: map[string]string{ownerGroup + "/ssa": "Merge"},
	}
	return opts
}

// diff reports, per object, what a server-side dry-run apply would change.
func diff(ctx context.Context, m *ssa.ResourceManager, objects []*unstructured.Unstructured) (int, error) {
	sort.Sort(ssa.SortableUnstructureds(objects))
	drifted := 0
	for _, obj := range objects {
		entry, _, _, err := m.Diff(ctx, obj, ssa.DefaultDiffOptions())
		if err != nil {
			return 2, fmt.Errorf("failed to diff %s: %w", ssautils.FmtUnstructured(obj), err)
		}
		if entry.Action != ssa.UnchangedAction && entry.Action != ssa.SkippedAction {
			drifted++
			fmt.Println(entry.String())
		}
	}
	fmt.Printf("objects: %d, drifted or missing: %d\n", len(objects), drifted)
	if drifted > 0 {
		return 1, nil
	}
	return 0, nil
}

func printEntries(entries []ssa.ChangeSetEntry, verbose bool) {
	for _, e := range entries {
		if verbose || e.Action != ssa.UnchangedAction {
			fmt.Println(e.String())
		}
	}
}

func countActions(entries []ssa.ChangeSetEntry) map[ssa.Action]int {
	out := map[ssa.Action]int{}
	for _, e := range entries {
		out[e.Action]++
	}
	return out
}

func formatSummary(s map[ssa.Action]int) string {
	order := []ssa.Action{ssa.CreatedAction, ssa.ConfiguredAction, ssa.UnchangedAction,
		ssa.DeletedAction, ssa.SkippedAction, ssa.UnknownAction}
	out := ""
	for _, a := range order {
		if s[a] == 0 && a != ssa.CreatedAction && a != ssa.ConfiguredAction && a != ssa.UnchangedAction {
			continue
		}
		if out != "" {
			out += ", "
		}
		out += fmt.Sprintf("%s %d", a, s[a])
	}
	return out
}
