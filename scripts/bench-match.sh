#!/usr/bin/env bash
# bench-match.sh: kizuna match against grep -F -f and a mawk hash join,
# side by side on the same files (issue #3).
#
#   scripts/bench-match.sh [WORKDIR]      (default: a new temporary directory)
#
# Needs ../shared/data (Maltrail trails and the zed-sample-data Zeek DNS
# log), go (or KIZUNA=path/to/kizuna), mawk and GNU time. It
#   1. extracts the Maltrail domain trails into a plain list (list.txt, one
#      lowercase domain name per line, unique),
#   2. builds dns.log: the Zeek headers of zeek-default/dns.log.gz and its
#      data lines replicated to about 1,000,000,
#   3. times (/usr/bin/time -f '%e s %M KB') grep -F -f, a mawk hash join on
#      the query field and kizuna match --indicators list.txt dns.log,
#   4. counts grep's lines against the field-exact hits, checks that kizuna
#      finds every exact hit of the join (the sets of matched values and of
#      matched line numbers), and prints the ratios.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
DATA=${DATA:-$ROOT/../shared/data}
W=${1:-$(mktemp -d)}
mkdir -p "$W"
TARGET=${TARGET:-1000000}
T='/usr/bin/time -f %e_s_%M_KB_%U_%S'

[ -d "$DATA" ] || { echo "bench-match: $DATA absent" >&2; exit 2; }
echo "workdir $W; $(nproc) cores; load average $(cut -d' ' -f1-3 /proc/loadavg)"

tar xzf "$DATA/ioc/maltrail.tar.gz" -O --wildcards 'maltrail/trails/static/*.txt' |
	sed 's/#.*//; s/^[[:space:]]*//; s/[[:space:]].*$//' | tr 'A-Z' 'a-z' |
	grep -E '^[a-z0-9_-]+(\.[a-z0-9_-]+)+$' | grep -Ev '^[0-9.]+$' | LC_ALL=C sort -u >"$W/list.txt"

SRC="$DATA/telemetry/zed-sample-data/zeek-default/dns.log.gz"
zcat "$SRC" | grep '^#' | grep -v '^#close' >"$W/head.txt"
zcat "$SRC" | grep -v '^#' >"$W/data.txt"
n=$(wc -l <"$W/data.txt")
reps=$(((TARGET + n - 1) / n))
{
	cat "$W/head.txt"
	for _ in $(seq "$reps"); do cat "$W/data.txt"; done
} >"$W/dns.log"
rm -f "$W/data.txt"
echo "indicators $(wc -l <"$W/list.txt") domains; dns.log $(grep -vc '^#' "$W/dns.log") data lines ($reps x $n), $(($(stat -c %s "$W/dns.log") / 1048576)) MB"

if [ -n "${KIZUNA:-}" ]; then # a binary built elsewhere
	cp "$KIZUNA" "$W/kizuna"
else
	go build -o "$W/kizuna" ./cmd/kizuna
fi
cat "$W/list.txt" "$W/dns.log" >/dev/null # page cache warm for everyone

run() { # name, output, command...
	local name=$1 out=$2
	shift 2
	$T -o "$W/$name.time" "$@" >"$out" 2>"$W/$name.err" || [ $? -le 1 ]
	tail -1 "$W/$name.time" | awk -F_ -v n="$name" '{ printf "%-7s %6.2f s %8d KB   (cpu %.2f s user+sys)\n", n, $1, $3, $5 + $6 }'
}

run grep "$W/grep.out" grep -n -F -f "$W/list.txt" "$W/dns.log"
# The hash join: load the list into an array, then look up the query
# column (10) of every data line; print line number and query.
run mawk "$W/mawk.out" mawk -F'\t' 'NR==FNR { ind[$1]; next } /^#/ { next } ($10 in ind) { print FNR "\t" $10 }' "$W/list.txt" "$W/dns.log"
run kizuna "$W/kizuna.out" "$W/kizuna" match --indicators "$W/list.txt" "$W/dns.log"

grep_lines=$(wc -l <"$W/grep.out")
exact=$(wc -l <"$W/mawk.out")
k_hits=$(wc -l <"$W/kizuna.out")
# kizuna's hits on the query field (the join looks at no other field)
mawk -F'"' '{ for (i = 2; i < NF; i += 2) { if ($i == "line") l = $(i+1); if ($i == "field") f = $(i+2); if ($i == "value") v = $(i+2) } gsub(/[^0-9]/, "", l); if (f == "query") print l "\t" v }' "$W/kizuna.out" | LC_ALL=C sort -u >"$W/kizuna.query"
LC_ALL=C sort -u "$W/mawk.out" >"$W/mawk.sorted"
missing=$(LC_ALL=C comm -23 "$W/mawk.sorted" "$W/kizuna.query" | wc -l)
extra=$(LC_ALL=C comm -13 "$W/mawk.sorted" "$W/kizuna.query" | wc -l)
cut -f2 "$W/mawk.sorted" | LC_ALL=C sort -u >"$W/mawk.values"
cut -f2 "$W/kizuna.query" | LC_ALL=C sort -u >"$W/kizuna.values"
mv_missing=$(LC_ALL=C comm -23 "$W/mawk.values" "$W/kizuna.values" | wc -l)

secs() { cut -d_ -f1 "$W/$1.time" | tail -1; }
cpu() { tail -1 "$W/$1.time" | awk -F_ '{ print $5 + $6 }'; }
echo "grep -F -f: $grep_lines lines, of which $exact field-exact query hits ($((grep_lines - exact)) substring false positives)"
echo "mawk join:  $exact query hits, $(wc -l <"$W/mawk.values") distinct values"
echo "kizuna:     $k_hits hits ($(wc -l <"$W/kizuna.query") on the query field); join hits missing: $missing lines, $mv_missing values; query hits beyond the join: $extra"
echo "kizuna stderr: $(tail -1 "$W/kizuna.err")"
awk -v g="$(secs grep)" -v m="$(secs mawk)" -v k="$(secs kizuna)" -v gc="$(cpu grep)" -v mc="$(cpu mawk)" -v kc="$(cpu kizuna)" -v n="$(grep -vc '^#' "$W/dns.log")" 'BEGIN {
	printf "ratios (wall): grep/kizuna %.1fx, mawk/kizuna %.1fx; kizuna %.2f M lines/s end to end (indicators loaded included)\n", g / k, m / k, n / k / 1e6
	printf "ratios (cpu):  grep/kizuna %.1fx, mawk/kizuna %.1fx; kizuna %.2f M lines/s per cpu-second\n", gc / kc, mc / kc, n / kc / 1e6 }'
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
[ "$missing" -eq 0 ] && [ "$mv_missing" -eq 0 ] || { echo "bench-match: kizuna missed exact hits" >&2; exit 1; }
