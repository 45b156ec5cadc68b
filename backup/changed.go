package backup

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"

	"github.com/aiuptime/aiuptime/files"
	"github.com/aiuptime/aiuptime/stack"
)

// Changed lists the snapshot's files (manifest paths) whose live copy
// differs from the snapshot or is missing: the files a Restore with the
// same options puts back. It compares the model volumes and the gateway
// config, the parts restored in place; the gateway database is not
// compared (a live database always differs from its snapshot). Files are
// read beneath their volume without following links, as Restore does.
func Changed(ctx context.Context, dir string, st stack.Stack, opts ...Option) ([]string, error) {
	o := newOptions(opts)
	m, err := Read(dir)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, si := range m.Sources {
		name, ok := strings.CutPrefix(si.Name, ModelsPrefix)
		if !ok || !o.wants("models", name) {
			continue
		}
		v, ok, err := volume(ctx, st, name, stack.VolumeModels)
		if err != nil {
			return nil, err
		}
		if !ok {
			return nil, fmt.Errorf("compare %s: %s has no models volume", si.Name, name)
		}
		diff, err := changedIn(m, si.Name, v.HostPath)
		if err != nil {
			return nil, err
		}
		out = append(out, diff...)
	}
	if ci, ok := m.SourceInfo(SourceGatewayConfig); ok && o.wants("config", "") {
		v, ok, err := volume(ctx, st, "gateway", stack.VolumeConfig)
		if err != nil {
			return nil, err
		}
		if ok {
			rel := SourceGatewayConfig + "/" + filepath.Base(ci.From)
			diff, err := changedFile(m, rel, v.HostPath)
			if err != nil {
				return nil, err
			}
			out = append(out, diff...)
		}
	}
	return out, nil
}

// changedIn lists the entries of source that differ beneath the live dir.
func changedIn(m *Manifest, source, live string) ([]string, error) {
	root, err := files.OpenRoot(live)
	if err != nil {
		return nil, fmt.Errorf("compare %s: %w", source, err)
	}
	defer root.Close()
	var out []string
	for _, e := range m.Entries {
		if e.Source != source {
			continue
		}
		rel := strings.TrimPrefix(e.Path, source+"/")
		if sum, size, err := hashIn(root, filepath.FromSlash(rel)); err != nil || sum != e.SHA256 || size != e.Size {
			out = append(out, e.Path)
		}
	}
	return out, nil
}

// changedFile lists the entry at path if the live file differs from it.
func changedFile(m *Manifest, path, live string) ([]string, error) {
	root, err := files.OpenRoot(filepath.Dir(live))
	if err != nil {
		return nil, fmt.Errorf("compare %s: %w", path, err)
	}
	defer root.Close()
	for _, e := range m.Entries {
		if e.Path != path {
			continue
		}
		if sum, size, err := hashIn(root, filepath.Base(live)); err != nil || sum != e.SHA256 || size != e.Size {
			return []string{e.Path}, nil
		}
		return nil, nil
	}
	return nil, nil
}
