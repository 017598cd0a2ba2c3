#!/usr/bin/env bash
# Makes sure the PostgreSQL server binaries the tests need (initdb, pg_ctl, postgres, psql,
# pgbench) are installed, installing Debian's postgresql-15 when they are not and we can.
set -euo pipefail

need=(initdb pg_ctl postgres psql pgbench)

complete() { # dir -> 0 if every needed program is there
  local dir=$1 b
  for b in "${need[@]}"; do [[ -x "$dir/$b" ]] || return 1; done
}

find_bindir() {
  if [[ -n "${LIKEWISE_PG_BINDIR:-}" ]] && complete "$LIKEWISE_PG_BINDIR"; then
    echo "$LIKEWISE_PG_BINDIR"; return 0
  fi
  local dir
  if dir=$(pg_config --bindir 2>/dev/null) && complete "$dir"; then
    echo "$dir"; return 0
  fi
  for dir in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -t/ -k4 -rn); do
    if complete "$dir"; then echo "$dir"; return 0; fi
  done
  return 1
}

if dir=$(find_bindir); then
  echo "PostgreSQL binaries: $dir ($("$dir/postgres" --version))"
  exit 0
fi

if [[ $(id -u) -eq 0 ]] && command -v apt-get >/dev/null; then
  echo "PostgreSQL binaries not found: installing postgresql-15 with apt-get"
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y --no-install-recommends postgresql-15 ||
    { apt-get update && apt-get install -y --no-install-recommends postgresql-15; }
  if dir=$(find_bindir); then
    echo "PostgreSQL binaries: $dir ($("$dir/postgres" --version))"
    exit 0
  fi
fi

cat >&2 <<'MSG'
PostgreSQL server binaries (initdb, pg_ctl, postgres, psql, pgbench) not found.
Install PostgreSQL 15 server packages, e.g. as root on Debian/Ubuntu:
    apt-get install -y postgresql-15
or point LIKEWISE_PG_BINDIR at a directory that holds those programs.
MSG
exit 1
