#!/usr/bin/env bash
# Refreshes docs/screenshots from a run of the screenshot test (BillingPageTests), which writes its files next to the
# test binaries rather than into the checkout. Runs that one test through scripts/test.sh (a throwaway PostgreSQL,
# Chromium), then copies the files.
set -euo pipefail
cd "$(dirname "$0")/.."
out=tests/Qubrid.Tests/bin/Release/net10.0/screenshots # BillingPageTests.ScreenshotFolder of the Release build test.sh runs
names=(billing-panel.png history.png recharge.png redeem.png)
rm -rf "$out"
bash scripts/test.sh --filter "FullyQualifiedName~Qubrid.Tests.Browser.BillingPageTests.Screenshots_of_the_billing_panel|FullyQualifiedName~Qubrid.Tests.Browser.BillingPageTests.Redeeming_a_code"
for name in "${names[@]}"; do
  [ -s "$out/$name" ] || { echo "$out/$name was not written: docs/screenshots left as it was." >&2; exit 1; }
done
mkdir -p docs/screenshots
for name in "${names[@]}"; do cp "$out/$name" docs/screenshots/; done
echo "docs/screenshots refreshed (${names[*]}); review and commit them with git."
