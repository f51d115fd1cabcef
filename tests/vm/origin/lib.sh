# SPDX-License-Identifier: GPL-2.0
#
# Helpers of the instant import tests, sourced after common.sh: the S3
# test server, and an export of an ext4 disk with files on it.

MiB=$((1 << 20))

# s3_start: tests/s3/s3-server on the guest's loopback, its settings exported.
s3_start() {
	local s3=$DMROW_SRC/tests/s3/s3-server
	[[ -x $s3 && -d $DMROW_SRC/tests/s3/node_modules/@20minutes/s3rver ]] ||
		skip "no S3 test server: tests/s3/s3-server and its npm packages (make setup)"
	log_must ip link set lo up		# down in the guest
	log_must "$s3" start "$TEST_TMP/s3" 9555 dmrow
	on_exit "$s3" stop "$TEST_TMP/s3"
	export AWS_ENDPOINT_URL=http://127.0.0.1:9555 AWS_REGION=us-east-1
	export AWS_ACCESS_KEY_ID=S3RVER AWS_SECRET_ACCESS_KEY=S3RVER SNAPCTL_S3_CONFIG=/dev/null
	unset AWS_DEFAULT_REGION SNAPCTL_S3_RETRIES
	URL=s3://dmrow/vm
}

# unserve_all: disconnect every export snapctl serves (after the pool is gone).
unserve_all() {
	local f
	for f in "$SNAPCTL_RUN_DIR"/nbd/nbd*.serve; do
		[[ -e $f ]] || continue
		f=${f##*/}
		snapctl export unserve "/dev/${f%.serve}" --force || true
	done
}

# make_export POOL [MIB]: a disk "src" of POOL, MIB MiB (default 256),
# with ext4 and files on it, snapshotted and exported to $URL as "img";
# sets FILE_SUM[name] of each file; removes the disk.
make_export() {
	local pool=$1 mib=${2:-256} f
	log_must snapctl disk create "$pool" src --size "${mib}M"
	mount_fs /dev/mapper/"$pool"-src "$TEST_TMP/src"
	declare -gA FILE_SUM=()
	for f in 1 2 3; do
		random_stream $((f * 3 * MiB)) "file$f" >"$TEST_TMP/src/file$f"
		FILE_SUM[file$f]=$(sha256sum <"$TEST_TMP/src/file$f" | cut -d' ' -f1)
	done
	log_must umount "$TEST_TMP/src"
	log_must snapctl snapshot create "$pool" src --name s
	expect_exit 0 snapctl export "$pool" src/s "$URL" --name img
	expect_exit 0 snapctl disk remove "$pool" src --yes
	expect_exit 0 snapctl snapshot delete "$pool" src/s --yes
}

# hydration POOL DISK: "<state> <hydrated bytes> <origin bytes>" from disk list.
hydration() {
	snapctl disk list "$1" --json |
		jq -r --arg d "$2" '.[] | select(.name == $d) | .external_origin |
			"\(.hydration) \(.hydrated_bytes) \(.bytes)"'
}

# expect_hydrating POOL DISK WHAT: hydration is under way, not done.
expect_hydrating() {
	local state done total
	read -r state done total <<<"$(hydration "$1" "$2")"
	echo "hydration of $2 $3: $state, $done of $total bytes"
	[[ $state == running && $done -lt $total ]] ||
		fail "hydration of $2 is not under way $3: $state, $done of $total bytes"
}

# instant_setup POOL: what the instant import tests need: the tools, the
# module, the S3 test server, and a snapctl pool; served exports are
# disconnected at the end.
instant_setup() {
	require_disks 2
	require_cmd jq python3 node ip nbdkit nbd-client pgrep
	load_module
	s3_start
	on_exit unserve_all
	snapctl_pool "$1"
}
