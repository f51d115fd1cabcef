#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# DESCRIPTION: four weeks of two policies in virtual time: hours x weekdays, names, retention expiry, snapshot contents
#
# A fake clock starts on Monday 2026-03-02 00:30 UTC.  Policy 'wk' (09:00
# and 17:00, Monday to Friday, kept forever) applies to vm1, 'daily' (02:00
# every day, kept 3 days) to vm2.  'snapctl daemon --until' runs the four
# weeks in virtual time, one week per run, with new data written to vm1
# before each week.  Then vm1 has exactly the 40 snapshots the schedule
# gives, named auto_<yyyyMMdd>_<HHmm>_wk, created at their slot, kind auto,
# kept forever; vm2 has the 3 daily snapshots younger than 3 days, the 25
# older ones expired; the daemon's JSON reports 68 snapshots, 25 expiries,
# no error; and the Monday 09:00 snapshot of each week holds the data
# written before that week (sha256), none written after.

. "$DMROW_SRC/tests/vm/common.sh"

require_disks 2
require_cmd jq
load_module

snapctl_pool tank
MiB=$((1 << 20))
log_must snapctl disk create tank vm1 --size 16M
log_must snapctl disk create tank vm2 --size 16M
start=$(epoch 2026-03-02T00:30)
clock_at "$start"
export TZ=UTC		# the policies' zone, and bash's printf below
log_must snapctl policy create wk --hours 9,17 --weekdays mon-fri --retention-days forever
log_must snapctl policy create daily --hours 2 --retention-days 3
log_must snapctl policy apply wk tank vm1
log_must snapctl policy apply daily tank vm2

snapshots=0 expired=0
declare -a week_sum
for week in 0 1 2 3; do
	write_random /dev/mapper/tank-vm1 $((week * MiB)) $MiB "week$week" >/dev/null
	week_sum[week]=$(sha256_of /dev/mapper/tank-vm1 0 $((4 * MiB)))
	expect_exit 0 snapctl daemon --until $((start + (week + 1) * 7 * 86400)) --json
	# errors busy snapshots expiries evictions, in one jq (processes cost).
	read -r e b n x v < <(jq -r '[.errors, .busy] + ([.events[] | .action] |
		[map(select(. == "snapshot")), map(select(. == "expire")), map(select(. == "evict"))] |
		map(length)) | @tsv' "$CMD_OUT")
	assert_eq "$e/$b/$v" 0/0/0 "errors, busy disks and evictions in week $week"
	snapshots=$((snapshots + n))
	expired=$((expired + x))
	# The clock file follows the virtual time.
	assert_eq "$(<"$SNAPCTL_FAKE_TIME_FILE")" $((start + (week + 1) * 7 * 86400)) "clock after week $week"
done
assert_eq "$snapshots" 68 "snapshots taken in four weeks (40 + 28)"
assert_eq "$expired" 25 "daily snapshots expired after 3 days"

# The names the schedule gives, in order (bash's printf %()T: no process).
expected_vm1=() expected_vm2=()
for ((day = 0; day < 28; day++)); do
	printf -v d '%(%Y%m%d)T' $((start + day * 86400))
	((day % 7 < 5)) && expected_vm1+=("auto_${d}_0900_wk" "auto_${d}_1700_wk")
	((day >= 25)) && expected_vm2+=("auto_${d}_0200_daily")
done
snapctl --json snapshot list tank vm1 >"$TEST_TMP/vm1.json"
snapctl --json snapshot list tank vm2 >"$TEST_TMP/vm2.json"
assert_eq "$(jq -r '.[].name' "$TEST_TMP/vm1.json" | tr '\n' ' ')" "${expected_vm1[*]} " "vm1: hours x weekdays"
assert_eq "$(jq -r '.[].name' "$TEST_TMP/vm2.json" | tr '\n' ' ')" "${expected_vm2[*]} " "vm2: what retention keeps"

# Created at the slot its name says, on a weekday; kind, policy and
# retention recorded.
wk=$(snapctl --json policy list | jq '.[] | select(.name == "wk") | .id')
daily=$(snapctl --json policy list | jq '.[] | select(.name == "daily") | .id')
jq -e --argjson wk "$wk" 'all(.[];
	(.name[5:18] | strptime("%Y%m%d_%H%M") | mktime) == .created and
	(.created | strftime("%u") | tonumber) <= 5 and
	.kind == "auto" and .policy == $wk and .retention_until == 0)' "$TEST_TMP/vm1.json" ||
	fail "vm1's snapshots: creation times, weekdays, kind, policy or retention"
jq -e --argjson daily "$daily" 'all(.[];
	(.name[5:18] | strptime("%Y%m%d_%H%M") | mktime) == .created and
	.kind == "auto" and .policy == $daily and .retention_until == .created + 3 * 86400)' \
	"$TEST_TMP/vm2.json" || fail "vm2's snapshots: creation times, kind, policy or retention"

# Each Monday's 09:00 snapshot holds what was written before its week.
for week in 0 1 2 3; do
	printf -v d '%(%Y%m%d)T' $((start + week * 7 * 86400))
	name=auto_${d}_0900_wk
	log_must snapctl snapshot view tank "vm1/$name"
	assert_eq "$(sha256_of "/dev/mapper/tank-vm1@$name" 0 $((4 * MiB)))" "${week_sum[week]}" \
		"content of $name"
	log_must snapctl snapshot unview tank "vm1/$name"
done
exit 0
