#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# DESCRIPTION: snapctl metrics: Prometheus text checked with prometheus_client against every --json figure; daemon --metrics-file
#
# A pool with three disks: vm1 with two manual snapshots (the first one
# partly overwritten, so it holds exclusive blocks) and data written since,
# vm2 with one, vm3 with one and then removed.  Policy 'nightly' applies to
# vm1 and vm2; 'snapctl daemon --once' on a fake clock takes their 02:00
# snapshots, and on the next night, with the automatic quota at 0, fails
# to.  vm1 is exported, then exported again under the same name (refused);
# vm2's export fails (the repository path is under a plain file).
#
# 'snapctl metrics' must then be what Prometheus' own parser
# (prometheus_client.parser) reads as gauges and counters, each with its
# HELP and TYPE, names under dmrow_, and every sample must equal the figure
# the other commands give in --json: pool status (mode, data and metadata
# bytes), disk list (size, mapped, since-snapshot, chain bytes, snapshot
# counts), snapshot list (exclusive bytes, summed per disk), policy list
# (last run, last success, failures), export list (the creation time of
# the last complete export), with nothing missing and nothing extra.  The
# policy and export figures are also checked against what the test did;
# promtool, where installed, finds nothing to say.
# 'snapctl daemon --metrics-file', started under umask 077, writes the
# same text to a file of mode 0644 and leaves no temporary file.  Once the
# pool is deactivated the metrics say so and nothing else.

. "$DMROW_SRC/tests/vm/common.sh"

require_disks 2
require_cmd jq python3
python3 -c 'import prometheus_client.parser' 2>/dev/null ||
	skip "python3-prometheus-client not installed (make setup)"
load_module

snapctl_pool tank
MiB=$((1 << 20))

# --- contract ---------------------------------------------------------------
snapctl_contract "metrics"
snapctl_contract "metrics" tank
expect_exit 2 snapctl metrics --output
err_has "option '--output' needs a value"
expect_exit 2 snapctl metrics 'no/such'
err_has "not a valid pool name"
expect_exit 3 snapctl metrics nosuch
err_has "no pool 'nosuch'"
expect_exit 0 snapctl metrics
out_has '^dmrow_pool_active\{pool="tank"\} 1$'

# --- a pool with disks, snapshots, a policy and exports ---------------------
log_must snapctl disk create tank vm1 --size 32M
log_must snapctl disk create tank vm2 --size 16M
log_must snapctl disk create tank vm3 --size 8M
write_random /dev/mapper/tank-vm1 0 $((4 * MiB)) a >/dev/null
log_must snapctl snapshot create tank vm1 --name s1
write_random /dev/mapper/tank-vm1 0 $((2 * MiB)) b >/dev/null
log_must snapctl snapshot create tank vm1 --name s2
write_random /dev/mapper/tank-vm1 $((8 * MiB)) $MiB c >/dev/null
write_random /dev/mapper/tank-vm2 0 $MiB d >/dev/null
log_must snapctl snapshot create tank vm2 --name b1
write_random /dev/mapper/tank-vm3 0 $MiB e >/dev/null
log_must snapctl snapshot create tank vm3 --name gone
log_must snapctl disk remove tank vm3 --yes

clock_at 2026-03-02T01:30
log_must snapctl policy create nightly --hours 2 --retention-days 7
log_must snapctl policy apply nightly tank vm1 vm2
clock_at 2026-03-02T02:00:05
expect_exit 0 snapctl daemon --once
log_must snapctl pool quota tank --auto 0
clock_at 2026-03-03T02:00:05
expect_exit 1 snapctl daemon --once
err_has "automatic quota is 0"
log_must snapctl pool quota tank --auto 256

repo=$TEST_TMP/repo
log_must snapctl export tank vm1/s1 "$repo" --name vm1-s1
expect_exit 6 snapctl export tank vm1/s2 "$repo" --name vm1-s1
: >"$TEST_TMP/plain"
log_mustnot snapctl export tank vm2/b1 "$TEST_TMP/plain/repo"

# The figures as the other commands give them.
json=$TEST_TMP/json
mkdir -p "$json"
snapctl --json pool status tank >"$json/pool.json"
snapctl --json disk list tank >"$json/disks.json"
snapctl --json snapshot list tank >"$json/snapshots.json"
snapctl --json policy list >"$json/policies.json"
snapctl --json export list "$repo" >"$json/exports.json"

# What the test did, independently of any --json.
jq -e --argjson ok "$(epoch 2026-03-02T02:00:05)" --argjson run "$(epoch 2026-03-03T02:00:05)" \
	'.[0].name == "nightly" and (.[0].disks | length) == 2 and
	 all(.[0].disks[]; .last_success == $ok and .last_run == $run and .failures == 1)' \
	"$json/policies.json" >/dev/null || fail "the scheduler's figures in policy list --json: $(<"$json/policies.json")"
jq -e 'map(select(.name == "vm1"))[0] | .manual_snapshots == 2 and .auto_snapshots == 1' \
	"$json/disks.json" >/dev/null || fail "vm1's snapshot counts"
jq -e 'map(select(.name == "vm3"))[0] | .removed and .mapped_bytes == 0 and .chain_bytes > 0' \
	"$json/disks.json" >/dev/null || fail "removed vm3 keeps its snapshot's space"
jq -e 'map(select(.name == "s1"))[0].exclusive_bytes > 0' \
	"$json/snapshots.json" >/dev/null || fail "s1 holds no exclusive blocks"
# ok and failures of the last exports, per disk
exports='{"vm1": {"ok": 0, "failures": 1}, "vm2": {"ok": 0, "failures": 1}}'

cat >"$TEST_TMP/check.py" <<'EOF'
"""Parse a metrics text with Prometheus' parser; compare with the --json figures."""
import json, sys, time
from prometheus_client.parser import text_string_to_metric_families

path, jdir, pool, exports_done = sys.argv[1], sys.argv[2], sys.argv[3], json.loads(sys.argv[4])
text = open(path).read()
assert text.endswith("\n"), "no final newline"
got, problems = {}, []
for fam in text_string_to_metric_families(text):
    if not fam.name.startswith("dmrow_"):
        problems.append(f"{fam.name}: not under dmrow_")
    if not fam.documentation:
        problems.append(f"{fam.name}: no HELP")
    if fam.type not in ("gauge", "counter"):
        problems.append(f"{fam.name}: type {fam.type} (no TYPE line?)")
    for s in fam.samples:
        if fam.type == "counter" and s.name != fam.name + "_total":
            problems.append(f"{s.name}: a counter sample not named {fam.name}_total")
        key = (s.name, tuple(sorted(s.labels.items())))
        if key in got:
            problems.append(f"{key}: given twice")
        got[key] = s.value
for line in text.splitlines():
    if line.startswith("# TYPE ") and sum(1 for l in text.splitlines() if l == line) != 1:
        problems.append(f"'{line}' more than once")

def load(name):
    with open(f"{jdir}/{name}.json") as f:
        return json.load(f)

want = {}
def put(name, labels, value):
    want[(name, tuple(sorted(labels.items())))] = float(value)

st, disks, snaps = load("pool"), load("disks"), load("snapshots")
policies, exports = load("policies"), load("exports")
P = {"pool": pool}
put("dmrow_pool_active", P, 1)
for mode in ("rw", "out_of_data_space", "ro", "fail"):
    put("dmrow_pool_mode", {**P, "mode": mode}, mode == st["mode"])
put("dmrow_pool_needs_check", P, st["needs_check"])
put("dmrow_pool_data_size_bytes", P, st["data_bytes"])
put("dmrow_pool_data_used_bytes", P, st["data_used_bytes"])
put("dmrow_pool_data_free_bytes", P, st["data_bytes"] - st["data_used_bytes"])
put("dmrow_pool_metadata_size_bytes", P, st["metadata_bytes"])
put("dmrow_pool_metadata_used_bytes", P, st["metadata_used_bytes"])
for d in disks:
    D = {**P, "disk": d["name"]}
    mine = [s for s in snaps if s["disk"] == d["id"]]
    for kind in ("manual", "auto"):
        n = sum(1 for s in mine if s["kind"] == kind)
        if n != d[kind + "_snapshots"]:
            problems.append(f"{d['name']}: {n} {kind} snapshots listed, disk list says {d[kind + '_snapshots']}")
        put("dmrow_disk_snapshots", {**D, "kind": kind}, d[kind + "_snapshots"])
    put("dmrow_disk_size_bytes", D, d["size_bytes"])
    put("dmrow_disk_mapped_bytes", D, d["mapped_bytes"])
    put("dmrow_disk_since_snapshot_bytes", D, d["since_last_snapshot_bytes"])
    put("dmrow_disk_chain_bytes", D, d["chain_bytes"])
    put("dmrow_disk_snapshot_exclusive_bytes", D, sum(s["exclusive_bytes"] for s in mine))
for p in policies:
    for d in p["disks"]:
        if d["pool"] != pool:
            continue
        L = {**P, "disk": d["disk"], "policy": p["name"]}
        put("dmrow_policy_last_run_timestamp_seconds", L, d["last_run"])
        put("dmrow_policy_last_success_timestamp_seconds", L, d["last_success"])
        put("dmrow_policy_failures_total", L, d["failures"])
for disk, e in exports_done.items():
    D = {**P, "disk": disk}
    created = max((x["created"] for x in exports
                   if x["complete"] and x["pool"] == pool and x["disk"] == disk), default=0)
    put("dmrow_export_last_success_timestamp_seconds", D, created)
    put("dmrow_export_last_succeeded", D, e["ok"])
    put("dmrow_export_failures_total", D, e["failures"])
    # When it ended is in no listing: after the last complete one, not in the future.
    key = ("dmrow_export_last_timestamp_seconds", tuple(sorted(D.items())))
    last = got.get(key, -1)
    if not created <= last <= time.time() + 1:
        problems.append(f"{disk}: last export at {last}, the last complete one was created at {created}")
    want[key] = last

for key in sorted(want.keys() - got.keys()):
    problems.append(f"missing: {key[0]}{dict(key[1])} (expected {want[key]})")
for key in sorted(got.keys() - want.keys()):
    problems.append(f"unexpected: {key[0]}{dict(key[1])} {got[key]}")
for key in sorted(want.keys() & got.keys()):
    if want[key] != got[key]:
        problems.append(f"{key[0]}{dict(key[1])}: {got[key]}, --json says {want[key]}")
for p in problems:
    print("metrics:", p)
print(f"{len(got)} samples checked, {len(problems)} problems")
sys.exit(1 if problems else 0)
EOF

# --- snapctl metrics ----------------------------------------------------------
snapctl metrics >"$TEST_TMP/metrics.prom"
sed 's/^/  | /' "$TEST_TMP/metrics.prom"
log_must python3 "$TEST_TMP/check.py" "$TEST_TMP/metrics.prom" "$json" tank "$exports"
# Prometheus' linter of names and format, where it is installed.
if command -v promtool >/dev/null; then
	promtool check metrics <"$TEST_TMP/metrics.prom" || fail "promtool check metrics"
fi
# Named, the pool gives the same; --output writes the same.
snapctl metrics tank >"$TEST_TMP/named.prom"
cmp "$TEST_TMP/metrics.prom" "$TEST_TMP/named.prom" || fail "'snapctl metrics tank' differs"
log_must snapctl metrics --output "$TEST_TMP/out/tank.prom"
cmp "$TEST_TMP/metrics.prom" "$TEST_TMP/out/tank.prom" || fail "--output differs"

# --- the daemon writes the file -----------------------------------------------
textfile=$TEST_TMP/textfile
mkdir -p "$textfile"
mask=$(umask)
umask 077
daemon_start --metrics-file "$textfile/dmrow.prom"
umask "$mask"
for ((i = 0; i < 300; i++)); do
	[[ -s $textfile/dmrow.prom ]] && break
	sleep 0.1
done
[[ -s $textfile/dmrow.prom ]] || fail "the daemon wrote no $textfile/dmrow.prom in 30 s"
daemon_stop
assert_eq "$(stat -c %a "$textfile/dmrow.prom")" 644 "mode of the metrics file"
assert_eq "$(ls "$textfile")" dmrow.prom "files in the textfile directory"
log_must python3 "$TEST_TMP/check.py" "$textfile/dmrow.prom" "$json" tank "$exports"
cmp "$TEST_TMP/metrics.prom" "$textfile/dmrow.prom" || fail "the daemon's file differs from snapctl metrics"

# --- an inactive pool ---------------------------------------------------------
log_must snapctl pool deactivate tank
expect_exit 0 snapctl metrics
assert_eq "${CMD_OUT_LINES[*]}" "# HELP dmrow_pool_active 1 if the pool's device is active and answers, 0 if the pool is defined but not active or does not answer. # TYPE dmrow_pool_active gauge dmrow_pool_active{pool=\"tank\"} 0" \
	"metrics of an inactive pool"
