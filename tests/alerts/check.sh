#!/usr/bin/env bash
# The Prometheus alert rules of docs/alerts/ load in promtool (`check rules`) and fire as their
# tests say (`test rules`). promtool comes from Debian's prometheus package, downloaded (not
# installed) into tools/promtool/ on first use; when that is not possible, the rules are checked by
# parsing (YAML shape, every alert's expr naming a metric fundingd exports).
set -euo pipefail
cd "$(dirname "$0")/../.."
rules=docs/alerts/returns.rules.yml
tests=docs/alerts/returns.rules.test.yml
dir=tools/promtool
promtool=$(command -v promtool || true)
if [ -z "$promtool" ] && [ ! -x "$dir/usr/bin/promtool" ]; then
  mkdir -p "$dir"
  if (cd "$dir" && timeout 120 apt-get download prometheus >/dev/null 2>&1); then
    dpkg-deb -x "$(ls "$dir"/prometheus_*.deb | head -n 1)" "$dir"
    rm -f "$dir"/prometheus_*.deb
  fi
fi
if [ -z "$promtool" ] && [ -x "$dir/usr/bin/promtool" ]; then
  promtool="$PWD/$dir/usr/bin/promtool"
fi
if [ -n "$promtool" ]; then
  "$promtool" check rules "$rules"
  "$promtool" test rules "$tests"
  echo "alert rules: promtool check and test passed"
  exit 0
fi
echo "promtool unavailable: checking the rules by parsing" >&2
python3 - "$rules" <<'PY'
import re, sys
import yaml  # python3-yaml
doc = yaml.safe_load(open(sys.argv[1]))
alerts = [rule for group in doc["groups"] for rule in group["rules"]]
assert len(alerts) == 3, alerts
exported = {"funding_return_rate_basis_points", "funding_return_debits_60_days"}
for rule in alerts:
    assert set(rule) >= {"alert", "expr", "for", "labels", "annotations"}, rule
    names = set(re.findall(r"[a-z_]+(?=\{|\))", rule["expr"])) - {"max", "by", "and"}
    assert names <= exported, (rule["alert"], names - exported)
print("alert rules: parsed, 3 alerts on exported metrics")
PY
