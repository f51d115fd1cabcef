#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# DESCRIPTION: several disks under fio while snapshots, deletes, merges, rollbacks, clones and an export run at once; every byte checked
# TIMEOUT: 900
#
# Disks a and b each carry a ring writer (numbered 4 KiB writes, its count
# of acknowledged writes published) and a looping fio with verification.
# For STRESS_SECONDS (default 40, 120 with DMROW_TEST_SCALE=full; at
# least 6 rounds) the main loop takes
# instance snapshots of a and b, noting each writer's count just before (LO) and after (HI);
# deletes and merges snapshots of a from the middle of its chain; clones
# snapshots of b and runs fio with verification on each clone.  At the same
# time a second process keeps rolling disk c back to snapshots whose
# checksums it recorded, and a third exports a snapshot of a to a file
# repository and restores it.  Afterwards: every remaining snapshot of a
# and b holds exactly the first S ring writes for some LO <= S <= HI + 1
# (a merged snapshot keeps the bounds of the newest it absorbed), the live
# disks hold all writes, every fio run verified, every rollback read back
# its snapshot's checksum, and the restored export matches its snapshot.

. "$DMROW_SRC/tests/vm/common.sh"

require_disks 2
require_cmd fio python3 jq
load_module

if full_scale; then
	seconds=${STRESS_SECONDS:-120}
else
	seconds=${STRESS_SECONDS:-40}
fi
ring=1024
MiB=$((1 << 20))
export SNAPCTL_CONFIG_DIR=$TEST_TMP/pools
snapctl_pool tank
for d in a b; do
	log_must snapctl disk create tank $d --size 64M
done
log_must snapctl disk create tank c --size 16M
stop=$TEST_TMP/stop
on_exit "touch '$stop'"

# --- load on a and b ----------------------------------------------------------
declare -A writer loader
for d in a b; do
	echo 0 >"progress.$d"
	dmrow_io seqwrite /dev/mapper/tank-$d 0 $ring "$TEST_TMP/progress.$d" "$stop" &
	writer[$d]=$!
	(
		i=0
		while [[ ! -e $stop ]]; do
			i=$((i + 1))
			fio --name=load --filename=/dev/mapper/tank-$d --direct=1 --ioengine=libaio \
				--iodepth=8 --rw=randwrite --bs=4k --offset=$((16 * MiB)) \
				--size=$((8 * MiB)) --randseed=$i --verify=crc32c --verify_fatal=1 \
				--output="fio.$d.$i.log" ||
				{ echo "fio run $i on $d failed" >"fio.$d.failed"; exit 1; }
		done
		echo $i >"fio.$d.runs"
	) &
	loader[$d]=$!
done
on_exit "touch '$stop'; wait ${writer[a]} ${writer[b]} ${loader[a]} ${loader[b]} 2>/dev/null || true"
for d in a b; do
	for ((i = 0; i < 600; i++)); do
		read -r n <"progress.$d"
		[[ $n -gt 0 ]] && break
		sleep 0.1
	done
	[[ $n -gt 0 ]] || fail "the ring writer of $d never wrote"
done

# --- rollbacks of c, in a process of their own ------------------------------
(
	set -e
	k=0
	while [[ ! -e $stop ]]; do
		k=$((k + 1))
		write_random /dev/mapper/tank-c 0 $((4 * MiB)) "c$k" >"c.sum.$k"
		snapctl snapshot create tank c --name "c$k" >/dev/null
		write_random /dev/mapper/tank-c 0 $((4 * MiB)) "c$k-after" >/dev/null
		back=$((RANDOM % k + 1))
		snapctl snapshot rollback tank c "c$back" --yes >/dev/null
		got=$(sha256_of /dev/mapper/tank-c 0 $((4 * MiB)))
		want=$(<"c.sum.$back")
		[[ $got == "$want" ]] ||
			{ echo "rollback $k to c$back: $got, expected $want" >c.failed; exit 1; }
	done
	echo $k >c.rounds
) &
roller=$!
on_exit "touch '$stop'; wait $roller 2>/dev/null || true"

# --- snapshots, deletes, merges, clones --------------------------------------
declare -a asnaps=() bsnaps=()	# name:lo:hi
declare -A alive=()
clones=()
exporter=""
round=0
end=$((SECONDS + seconds))
while ((SECONDS < end || round < 6)); do
	round=$((round + 1))
	read -r alo <progress.a
	read -r blo <progress.b
	log_must snapctl snapshot create tank a b --name "a$round,b$round"
	read -r ahi <progress.a
	read -r bhi <progress.b
	asnaps+=("a$round:$alo:$ahi")
	bsnaps+=("b$round:$blo:$bhi")
	alive[a$round]=1

	if ((round % 3 == 0)); then
		# Delete one from the middle of a's chain.
		victim=a$((round - 2))
		if [[ -n ${alive[$victim]:-} ]]; then
			log_must snapctl snapshot delete tank "a/$victim" --yes
			unset "alive[$victim]"
		fi
	fi
	if ((round % 4 == 0)); then
		# Merge the two before the newest: the later one survives.
		first=a$((round - 1)) last=a$round
		if [[ -n ${alive[$first]:-} ]]; then
			log_must snapctl snapshot merge tank "a/$first" "a/$last" --yes
			unset "alive[$first]"
		fi
	fi
	if ((round % 3 == 2)); then
		clone=b${round}clone
		log_must snapctl clone tank "b/b$round" "$clone"
		clones+=("$clone")
		fio --name=clone --filename=/dev/mapper/tank-$clone --direct=1 --ioengine=libaio \
			--iodepth=4 --rw=randwrite --bs=4k --offset=$((32 * MiB)) --size=$((4 * MiB)) \
			--verify=crc32c --verify_fatal=1 --output="fio.$clone.log" >/dev/null ||
			fail "fio with verification failed on clone $clone"
	fi
	if [[ $round -eq 2 ]]; then
		# Export a snapshot of a while everything else goes on.
		(
			set -e
			snapctl --json export tank a/a2 "file://$TEST_TMP/repo" --name a2 >export.json
			snapctl import "file://$TEST_TMP/repo" a2 tank a2restored >/dev/null
			echo done >export.done
		) >export.log 2>&1 &
		exporter=$!
	fi
	sleep 0.5
done
touch "$stop"
for d in a b; do
	wait "${writer[$d]}" || fail "the ring writer of $d failed"
	rc=0
	wait "${loader[$d]}" || rc=$?
	[[ ! -e fio.$d.failed && $rc -eq 0 ]] || fail "fio's verification failed on $d: $(cat "fio.$d.failed" 2>/dev/null)"
	log_note "$d: $(<"progress.$d") ring writes, $(<"fio.$d.runs") fio runs"
done
rc=0
wait $roller || rc=$?
[[ ! -e c.failed && $rc -eq 0 ]] || fail "rollback: $(cat c.failed 2>/dev/null || echo "exit $rc")"
log_note "c: $(<c.rounds) rollbacks, each read back as its snapshot"
[[ -n $exporter ]] || fail "the run ended before the export started"
wait "$exporter" || fail "export or import failed: $(<export.log)"
log_note "$round rounds of snapshots; ${#clones[@]} clones"

# --- verify -------------------------------------------------------------------
# The restored export reads as its snapshot.
[[ -b /dev/mapper/tank-a@a2 ]] || log_must snapctl snapshot view tank a/a2
assert_eq "$(sha256_of /dev/mapper/tank-a2restored)" "$(sha256_of /dev/mapper/tank-a@a2)" \
	"the restored export against its snapshot"
log_must snapctl snapshot unview tank a/a2

# Each surviving snapshot of a holds a prefix of the ring writes; a merge
# leaves the newest snapshot's content, so its own bounds still hold.
specs=("/dev/mapper/tank-a:0:$ring:$(<progress.a):$(<progress.a)"
       "/dev/mapper/tank-b:0:$ring:$(<progress.b):$(<progress.b)")
views=()
for sp in "${asnaps[@]}"; do
	IFS=: read -r s lo hi <<<"$sp"
	[[ -n ${alive[$s]:-} ]] || continue
	log_must snapctl snapshot view tank "a/$s"
	views+=("a/$s")
	specs+=("/dev/mapper/tank-a@$s:0:$ring:$lo:$((hi + 1))")
done
for sp in "${bsnaps[@]}"; do
	IFS=: read -r s lo hi <<<"$sp"
	log_must snapctl snapshot view tank "b/$s"
	views+=("b/$s")
	specs+=("/dev/mapper/tank-b@$s:0:$ring:$lo:$((hi + 1))")
done
log_must dmrow_io seqcheck "${specs[@]}"
expect_exit 0 snapctl --json snapshot list tank a
assert_eq "$(jq length "$CMD_OUT")" "${#alive[@]}" "snapshots of a left after deletes and merges"
for v in "${views[@]}"; do
	log_must snapctl snapshot unview tank "$v"
done
for c in "${clones[@]}"; do
	log_must snapctl disk remove tank "$c" --yes
done
log_must snapctl disk remove tank a2restored --yes
# The fio disks were mapped from their caches while all this ran (the model
# test checks every answer; this that the cache was in the I/O path).
for d in a b; do
	read -r -a w <<<"$(dmsetup status tank-$d)"
	[[ ${w[11]} -gt 0 ]] || fail "disk $d: no bio was mapped from its cache (status: ${w[*]})"
done
