#!/usr/bin/env bash
# Writes docs/contracts/previous-release.txt, the grain contract shapes (messages, state, interfaces) of a release, which
# the test command's contract-shape check (tests/Qubrid.Core.Tests/ContractShapeTests.cs) compares this build with, and
# docs/contracts/previous-release-migrations.txt, its schema migrations (newer ones may only expand: MigrationRulesTests).
#   scripts/contracts-snapshot.sh [REF]    REF defaults to the commit named in .ci/previous-release
# Builds REF's grains in a temporary git worktree and reads its dlls with this tree's dumper (tests/Qubrid.Contracts),
# so a release older than the dumper can be read too. Run when a release is cut (docs/design.md#versioned-contracts).
set -euo pipefail
cd "$(dirname "$0")/.."
ref=${1:-$(tr -d '[:space:]' < .ci/previous-release)}
sha=$(git rev-parse --verify "$ref^{commit}")
tmp=$(mktemp -d /tmp/qubrid-contracts.XXXXXX)
cleanup() { git worktree remove --force "$tmp/src" >/dev/null 2>&1 || true; rm -rf "$tmp"; }
trap cleanup EXIT
git worktree add --detach "$tmp/src" "$sha" >/dev/null
echo "Building $sha's grains in $tmp/src ..." >&2
dotnet build -c Release "$tmp/src/src/Grains/Qubrid.Grains.csproj" > "$tmp/build.log" 2>&1 || { tail -n 30 "$tmp/build.log" >&2; exit 1; }
dotnet build -c Release tests/Qubrid.Contracts/Qubrid.Contracts.csproj > "$tmp/dumper.log" 2>&1 || { tail -n 30 "$tmp/dumper.log" >&2; exit 1; }
mkdir -p docs/contracts
{
  dotnet tests/Qubrid.Contracts/bin/Release/net10.0/Qubrid.Contracts.dll dump "$tmp/src/src/Grains/bin/Release/net10.0" | head -n 1
  echo "# Release $sha ($(git log -1 --format=%cs "$sha")), written by scripts/contracts-snapshot.sh; do not edit by hand."
  dotnet tests/Qubrid.Contracts/bin/Release/net10.0/Qubrid.Contracts.dll dump "$tmp/src/src/Grains/bin/Release/net10.0" | tail -n +2
} > docs/contracts/previous-release.txt
{
  echo "# The schema migrations of release $sha, written by scripts/contracts-snapshot.sh: later ones may only expand."
  git ls-tree --name-only "$sha" src/Grains/Storage/Migrations/ | sed 's#.*/##' | grep '\.sql$'
} > docs/contracts/previous-release-migrations.txt
echo "docs/contracts/previous-release.txt: $(grep -c '^[a-z]' docs/contracts/previous-release.txt) shapes of $sha"
echo "docs/contracts/previous-release-migrations.txt: $(grep -c '\.sql$' docs/contracts/previous-release-migrations.txt) migrations"
