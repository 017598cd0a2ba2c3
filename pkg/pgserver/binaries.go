package pgserver

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
)

// EnvBinDir overrides where the PostgreSQL server binaries are looked for.
const EnvBinDir = "LIKEWISE_PG_BINDIR"

// requiredBinaries are the programs the harness runs.
var requiredBinaries = []string{"initdb", "pg_ctl", "postgres", "psql", "pgbench"}

// missingHint is appended to every "not found" error so the reader knows how to fix it.
const missingHint = "run `make postgres` (hack/ensure-postgres.sh installs Debian's postgresql-15) " +
	"or set " + EnvBinDir + " to a directory holding initdb, pg_ctl, postgres, psql and pgbench"

// FindBinDir returns the directory of the PostgreSQL server binaries: $LIKEWISE_PG_BINDIR, else
// `pg_config --bindir`, else the newest /usr/lib/postgresql/*/bin. Debian's /usr/bin holds only
// wrappers without initdb, so pg_config is the reliable pointer.
func FindBinDir() (string, error) {
	var tried []string
	if dir := os.Getenv(EnvBinDir); dir != "" {
		if missing := missingIn(dir); len(missing) > 0 {
			return "", fmt.Errorf("%s=%s lacks %s; %s", EnvBinDir, dir, strings.Join(missing, ", "), missingHint)
		}
		return dir, nil
	}
	if out, err := exec.Command("pg_config", "--bindir").Output(); err == nil {
		dir := strings.TrimSpace(string(out))
		if len(missingIn(dir)) == 0 {
			return dir, nil
		}
		tried = append(tried, dir)
	}
	candidates, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	// Newest major version first: "9.6" < "13" < "15".
	sort.Slice(candidates, func(i, j int) bool {
		return majorOf(candidates[i]) > majorOf(candidates[j])
	})
	for _, dir := range candidates {
		if len(missingIn(dir)) == 0 {
			return dir, nil
		}
		tried = append(tried, dir)
	}
	if len(tried) == 0 {
		return "", fmt.Errorf("PostgreSQL server binaries not found (no pg_config, no /usr/lib/postgresql/*/bin); %s", missingHint)
	}
	return "", fmt.Errorf("PostgreSQL server binaries incomplete in %s (need %s); %s",
		strings.Join(tried, ", "), strings.Join(requiredBinaries, ", "), missingHint)
}

func missingIn(dir string) []string {
	var missing []string
	for _, b := range requiredBinaries {
		if fi, err := os.Stat(filepath.Join(dir, b)); err != nil || fi.IsDir() || fi.Mode()&0o111 == 0 {
			missing = append(missing, b)
		}
	}
	return missing
}

// majorOf returns the major version in /usr/lib/postgresql/<major>/bin, or 0.
func majorOf(dir string) float64 {
	v, err := strconv.ParseFloat(filepath.Base(filepath.Dir(dir)), 64)
	if err != nil {
		return 0
	}
	return v
}

// serverPrograms are what WithServerBinDir's directory must hold.
var serverPrograms = []string{"initdb", "pg_ctl", "postgres"}

// serverBinDir resolves dir's symbolic links and checks that it holds the server programs.
func serverBinDir(dir string) (string, error) {
	resolved, err := filepath.EvalSymlinks(dir)
	if err != nil {
		return "", fmt.Errorf("PostgreSQL server directory %s: %w; run `make postgres-versions` (hack/fetch-postgres.sh)", dir, err)
	}
	var missing []string
	for _, b := range serverPrograms {
		if fi, err := os.Stat(filepath.Join(resolved, b)); err != nil || fi.IsDir() || fi.Mode()&0o111 == 0 {
			missing = append(missing, b)
		}
	}
	if len(missing) > 0 {
		return "", fmt.Errorf("PostgreSQL server directory %s lacks %s; run `make postgres-versions` (hack/fetch-postgres.sh)",
			dir, strings.Join(missing, ", "))
	}
	return resolved, nil
}
