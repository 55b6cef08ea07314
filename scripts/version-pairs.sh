#!/usr/bin/env bash
# The zoo round trip from every supported server into every newer one (CI runs each version
# into itself, into the next and into 18; this runs the other pairs too: 13 -> 15, 13 -> 16,
# 14 -> 16, ...). Judged by pg_dump 18 and every table's rows, allowing across versions only
# what PostgreSQL's own upgrade test adjusts (tests/src/upgrade_adjust.rs).
#
#   bash scripts/version-pairs.sh
#
# Installs the servers first when needed (scripts/install-pg-versions.sh: node, npm, pip).
set -euo pipefail
cd "$(dirname "$0")/.."
pg_versions_env=$(bash scripts/install-pg-versions.sh)
eval "$pg_versions_env"
# Under CI=true a missing server fails instead of skipping.
export CI=true RDUMP_VERSION_PAIRS=all
exec cargo test --locked -p rdump-tests --test it -- versions::zoo_round_trips_on_every_version_and_into_newer_ones
