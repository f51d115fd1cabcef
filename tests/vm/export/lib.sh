# SPDX-License-Identifier: GPL-2.0
#
# Helpers of the export tests, sourced after common.sh.  Repositories use
# 256 KiB chunks: CHUNK.  Under emulation every process start costs, so
# sets of chunk ids are handled with builtins where it is easy.

CHUNK=$((256 << 10))
MiB=$((1 << 20))
export LC_ALL=C		# glob and sort orders agree

# image_sums DEV BYTES: read the first BYTES of DEV once and set IMAGE_SUM
# (their SHA-256), SLOT_SUM[slot] (the SHA-256 of every CHUNK-sized slot)
# and DATA_SLOTS (the slots that are not all zero, in order).  In an
# unencrypted repository the image's chunk ids are the sums of DATA_SLOTS.
image_sums() {
	local slot sum zero
	[[ -b $1 ]] && blockdev --flushbufs "$1"
	python3 - "$1" "$2" "$CHUNK" >"$TEST_TMP/sums" <<'EOF'
import hashlib, sys
dev, size, chunk = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
image, slots = hashlib.sha256(), []
with open(dev, "rb", buffering=0) as f:
    for slot in range((size + chunk - 1) // chunk):
        want, data = min(chunk, size - slot * chunk), b""
        while len(data) < want:
            more = f.read(want - len(data))
            if not more:
                sys.exit(f"{dev}: short read")
            data += more
        image.update(data)
        slots.append(f"{slot} {hashlib.sha256(data).hexdigest()} {int(data.count(0) == len(data))}")
print(image.hexdigest())
print("\n".join(slots))
EOF
	SLOT_SUM=()
	DATA_SLOTS=()
	{
		read -r IMAGE_SUM
		while read -r slot sum zero; do
			SLOT_SUM[slot]=$sum
			((zero)) || DATA_SLOTS+=("$slot")
		done
	} <"$TEST_TMP/sums"
	[[ ${#IMAGE_SUM} -eq 64 ]] || fail "image_sums $1: no checksum"
}

# data_ids: the sums of DATA_SLOTS (of the last image_sums), one a line.
data_ids() {
	local s
	for s in "${DATA_SLOTS[@]}"; do
		echo "${SLOT_SUM[s]}"
	done
}

# json_name: the "name" of the JSON object the last expect_exit printed.
json_name() {
	local re='^\{"name":"([^"]+)"'
	[[ ${CMD_OUT_LINES[0]:-} =~ $re ]] || fail "no name in: ${CMD_OUT_LINES[0]:-}"
	echo "${BASH_REMATCH[1]}"
}

# chunk_files REPO_DIR: the names of the chunk objects under REPO_DIR/chunks,
# sorted (temporary files, whose names start with '.', are not objects).
chunk_files() {
	local f
	while read -r f; do
		if [[ -n $f ]]; then
			echo "${f##*/}"
		fi
	done < <(compgen -G "$1/chunks/*/*" || true) | sort
}

# chunk_count REPO_DIR: how many chunk objects REPO_DIR holds.
chunk_count() {
	local -a f
	mapfile -t f < <(compgen -G "$1/chunks/*/*" || true)
	echo "${#f[@]}"
}

# list_ids REPO_DIR EXPORT: the chunk lists a manifest names.
list_ids() {
	local line
	while read -r line; do
		if [[ $line == list=* ]]; then
			echo "${line#list=}"
		fi
	done <"$1/exports/$2.manifest"
}

# disk_names POOL: the pool's disk names, sorted, on one line.
disk_names() {
	snapctl --json disk list "$1" | jq -r '[.[].name] | sort | join(" ")'
}

# no_disk POOL NAME: the pool has neither disk NAME nor NAME.importing, nor
# their devices.
no_disk() {
	local names
	names=" $(disk_names "$1") "
	[[ $names != *" $2 "* && $names != *" $2.importing "* ]] ||
		fail "pool $1 has a disk '$2' or '$2.importing':$names"
	[[ ! -e /dev/mapper/$1-$2 && ! -e /dev/mapper/$1-$2.importing ]] ||
		fail "a device of disk '$2' is left in /dev/mapper"
}

# zero_range DEV OFFSET LEN: write zeroes (4 KiB aligned) with O_DIRECT.
zero_range() {
	dd if=/dev/zero of="$1" bs=4096 count=$(($3 / 4096)) oflag=direct,seek_bytes \
		seek="$2" conv=notrunc status=none
}

# restore_check URL EXPORT POOL DISK SHA256 BYTES [ARGS...]: import EXPORT
# into a new disk and check that its first BYTES hash to SHA256.  The
# import's --json output stays in $CMD_OUT.
restore_check() {
	local url=$1 name=$2 pool=$3 disk=$4 sum=$5 bytes=$6
	shift 6
	expect_exit 0 snapctl --json import "$url" "$name" "$pool" "$disk" "$@"
	jq -e --arg e "$name" --arg d "$disk" --arg dev "/dev/mapper/$pool-$disk" \
		'.export == $e and .disk == $d and .device == $dev' "$CMD_OUT" >/dev/null ||
		fail "import --json of $name: not export $name into disk $disk, device /dev/mapper/$pool-$disk"
	assert_eq "$(sha256_of "/dev/mapper/$pool-$disk" 0 "$bytes")" "$sum" "restore of $name into $disk"
}
