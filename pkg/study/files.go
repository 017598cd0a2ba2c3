package study

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
)

// ScaledSettings are DefaultOptions' two settings on nodes of spareCPUs and saturatedCPUs, with
// requests the same share of a node: a machine with more cores runs the study's own 8- and
// 4-core settings as ScaledSettings(8, 4).
func ScaledSettings(spareCPUs, saturatedCPUs float64) []SettingSpec {
	d := DefaultOptions().Settings
	scale := func(s SettingSpec, cpus float64) SettingSpec {
		milli := int64(cpus * 1000)
		f := float64(milli) / float64(s.NodeCPUMilli)
		s.OLTPRequestMilli = int64(float64(s.OLTPRequestMilli) * f)
		s.OLAPRequestMilli = int64(float64(s.OLAPRequestMilli) * f)
		if milli != s.NodeCPUMilli {
			s.Description = fmt.Sprintf("nodes of %gm; requests OLTP %dm, OLAP %dm (%s)", float64(milli), s.OLTPRequestMilli, s.OLAPRequestMilli, s.Name)
		}
		s.NodeCPUMilli = milli
		return s
	}
	return []SettingSpec{scale(d[0], spareCPUs), scale(d[1], saturatedCPUs)}
}

// WriteFiles writes the report into dir as report.json, report.md and report.svg.
func WriteFiles(dir string, r *Report) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	var errs []error
	for name, write := range map[string]func(io.Writer) error{
		"report.json": r.WriteJSON,
		"report.md":   func(w io.Writer) error { return WriteMarkdown(w, r) },
		"report.svg":  func(w io.Writer) error { return WriteSVG(w, r) },
	} {
		f, err := os.Create(filepath.Join(dir, name))
		if err != nil {
			errs = append(errs, err)
			continue
		}
		errs = append(errs, write(f), f.Close())
	}
	return errors.Join(errs...)
}
