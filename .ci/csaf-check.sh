#!/usr/bin/env bash
# csaf-check.sh: check Kizuna's CSAF 2.0 trusted provider with the BSI
# reference checker (github.com/gocsaf/csaf/v3 csaf_checker).
#
# Builds kizuna and installs csaf_checker (into a temporary GOBIN), creates a
# data directory with a hub analyst and a token, publishes the shipped
# example advisories (internal/csaf/testdata/*.json, TLP:WHITE) and a
# TLP:AMBER draft, serves the hub over HTTPS (self-signed certificate) on
# 127.0.0.1, and runs the checker three times:
#   1. on the domain 127.0.0.1:PORT: every requirement is checked, including
#      /.well-known/security.txt (8) and /.well-known/csaf/provider-metadata.json
#      (9). Requirement 10 (DNS path https://csaf.data.security.DOMAIN) cannot
#      resolve for a loopback test address, so its error, and only that
#      one, is tolerated in this run;
#   2. on the direct provider-metadata.json URL, anonymously: no error at
#      all (anonymous callers see the TLP:WHITE distributions only);
#   3. the same as the hub analyst (-H "Authorization: Bearer TOKEN"): no
#      error at all; the checker then also reads the TLP:AMBER directory and
#      feed and checks (requirement 5) that the AMBER advisory is refused
#      without credentials.
# Exits non-zero when the checker reports any other error, or fails to run.
#
# Usage: bash .ci/csaf-check.sh          (from the repository root)
# Env:   CSAF_CHECKER_VERSION (default v3.7.0: v3.7.1 needs Go >= 1.26.10)
#        CSAF_CHECK_PORT      (default: a free port)
#        CSAF_CHECK_KEEP=1    keep the work directory (reports, logs)
set -euo pipefail

cd "$(dirname "$0")/.."
version="${CSAF_CHECKER_VERSION:-v3.7.0}"
port="${CSAF_CHECK_PORT:-$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')}"
work="$(mktemp -d)"
pid=""
cleanup() {
	if [ -n "$pid" ]; then kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; fi
	if [ "${CSAF_CHECK_KEEP:-}" = 1 ]; then echo "csaf-check: work directory kept: $work"; else rm -rf "$work"; fi
}
trap cleanup EXIT

echo "csaf-check: installing csaf_checker@$version"
GOBIN="$work/bin" GOFLAGS=-mod=mod go install "github.com/gocsaf/csaf/v3/cmd/csaf_checker@$version"
echo "csaf-check: building kizuna"
go build -o "$work/bin/kizuna" ./cmd/kizuna
kizuna="$work/bin/kizuna"
checker="$work/bin/csaf_checker"

data="$work/data"
"$kizuna" org create --data "$data" --name "Kizuna hub" --sector government --type hub >/dev/null
"$kizuna" user create --data "$data" --org "Kizuna hub" --name csaf-check --role analyst >/dev/null
token="$("$kizuna" token create --data "$data" --org "Kizuna hub" --user csaf-check 2>/dev/null)"
"$kizuna" csaf publish --data "$data" --as-is internal/csaf/testdata/*.json
"$kizuna" csaf publish --data "$data" internal/csaf/testdata/draft-amber.yaml
"$kizuna" csaf list --data "$data"

"$kizuna" serve --data "$data" --listen "127.0.0.1:$port" >"$work/serve.log" 2>&1 &
pid=$!
for _ in $(seq 1 100); do
	if curl -skf "https://127.0.0.1:$port/readyz" >/dev/null 2>&1; then break; fi
	if ! kill -0 "$pid" 2>/dev/null; then cat "$work/serve.log"; echo "csaf-check: kizuna serve exited" >&2; exit 1; fi
	sleep 0.1
done
curl -skf "https://127.0.0.1:$port/readyz" >/dev/null
kill -0 "$pid" 2>/dev/null || { cat "$work/serve.log"; echo "csaf-check: kizuna serve exited (port $port taken?)" >&2; exit 1; }

# errors REPORT [ALLOWED_REQUIREMENT...]: print the checker's errors and
# fail when one is in a requirement not listed.
errors() {
	python3 - "$@" <<'PY'
import json, sys
report, allowed = sys.argv[1], {int(a) for a in sys.argv[2:]}
d = json.load(open(report))
bad = 0
for dom in d.get("domains") or []:
    print(f"csaf-check: {dom.get('name')}: role {dom.get('role')}, passed {dom.get('passed')}")
    for r in dom.get("requirements") or []:
        for m in r.get("messages") or []:
            kind = {0: "info", 1: "warning", 2: "ERROR"}.get(m.get("type"), m.get("type"))
            print(f"  {r['num']:>2} {r['description']}: {kind}: {m['text']}")
            if m.get("type") == 2 and r["num"] not in allowed:
                bad += 1
    if dom.get("role") != "csaf_trusted_provider":
        print("csaf-check: role is not csaf_trusted_provider"); bad += 1
if not d.get("domains"):
    print("csaf-check: the report has no domain"); bad += 1
print(f"csaf-check: {bad} error(s) not tolerated")
sys.exit(1 if bad else 0)
PY
}

status=0
echo "csaf-check: run 1: domain 127.0.0.1:$port"
"$checker" --insecure -f json -o "$work/report-domain.json" "127.0.0.1:$port" >"$work/checker-domain.log" 2>&1 || { cat "$work/checker-domain.log"; exit 1; }
errors "$work/report-domain.json" 10 || status=1
echo "csaf-check: run 2: https://127.0.0.1:$port/.well-known/csaf/provider-metadata.json"
"$checker" --insecure -f json -o "$work/report-direct.json" "https://127.0.0.1:$port/.well-known/csaf/provider-metadata.json" >"$work/checker-direct.log" 2>&1 || { cat "$work/checker-direct.log"; exit 1; }
errors "$work/report-direct.json" || status=1
echo "csaf-check: run 3: the same as a hub analyst"
"$checker" --insecure -H "Authorization: Bearer $token" -f json -o "$work/report-analyst.json" "https://127.0.0.1:$port/.well-known/csaf/provider-metadata.json" >"$work/checker-analyst.log" 2>&1 || { cat "$work/checker-analyst.log"; exit 1; }
errors "$work/report-analyst.json" || status=1
grep -q "amber/index.txt" "$work/report-analyst.json" || { echo "csaf-check: run 3 did not read the TLP:AMBER directory" >&2; status=1; }
grep -q "labeled TLP:AMBER or TLP:RED were access-protected" "$work/report-analyst.json" || { echo "csaf-check: run 3 did not test the TLP:AMBER advisory's protection" >&2; status=1; }
if [ "$status" = 0 ]; then echo "csaf-check: ok"; else echo "csaf-check: FAILED" >&2; fi
exit "$status"
