package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"

	"github.com/fluxcd/cli-utils/pkg/object"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// inventory is what Flux keeps in a Kustomization's status.inventory: one entry per applied
// object, its id "<namespace>_<name>_<group>_<kind>" and its API version.
type inventory struct {
	Entries []inventoryEntry `json:"entries"`
}

type inventoryEntry struct {
	ID      string `json:"id"`
	Version string `json:"v"`
}

func inventoryOf(objects []*unstructured.Unstructured) inventory {
	inv := inventory{Entries: make([]inventoryEntry, 0, len(objects))}
	for _, o := range objects {
		inv.Entries = append(inv.Entries, inventoryEntry{
			ID:      object.UnstructuredToObjMetadata(o).String(),
			Version: o.GroupVersionKind().Version,
		})
	}
	sort.Slice(inv.Entries, func(i, j int) bool { return inv.Entries[i].ID < inv.Entries[j].ID })
	return inv
}

// readInventory reads the file; a missing file is an empty inventory (the first run).
func readInventory(path string) (inventory, error) {
	var inv inventory
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return inv, nil
	}
	if err != nil {
		return inv, fmt.Errorf("failed to read inventory %s: %w", path, err)
	}
	if err := json.Unmarshal(data, &inv); err != nil {
		return inv, fmt.Errorf("failed to parse inventory %s: %w", path, err)
	}
	return inv, nil
}

// write replaces the file atomically.
func (inv inventory) write(path string) error {
	data, err := json.MarshalIndent(inv, "", "  ")
	if err != nil {
		return fmt.Errorf("failed to encode inventory: %w", err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".inventory-*")
	if err != nil {
		return fmt.Errorf("failed to write inventory %s: %w", path, err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(append(data, '\n')); err != nil {
		tmp.Close()
		return fmt.Errorf("failed to write inventory %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("failed to write inventory %s: %w", path, err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("failed to write inventory %s: %w", path, err)
	}
	return nil
}

// minus returns the objects of inv that are not in other (the stale ones), as the partial
// objects DeleteAll takes.
func (inv inventory) minus(other inventory) []*unstructured.Unstructured {
	keep := make(map[string]bool, len(other.Entries))
	for _, e := range other.Entries {
		keep[e.ID] = true
	}
	var stale []*unstructured.Unstructured
	for _, e := range inv.Entries {
		if keep[e.ID] {
			continue
		}
		meta, err := object.ParseObjMetadata(e.ID)
		if err != nil {
			fmt.Fprintf(os.Stderr, "flux-ssa: skipping inventory entry %q: %v\n", e.ID, err)
			continue
		}
		u := &unstructured.Unstructured{}
		u.SetGroupVersionKind(schema.GroupVersionKind{Group: meta.GroupKind.Group, Version: e.Version, Kind: meta.GroupKind.Kind})
		u.SetNamespace(meta.Namespace)
		u.SetName(meta.Name)
		stale = append(stale, u)
	}
	return stale
}
