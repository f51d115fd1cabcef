# SPDX-License-Identifier: GPL-2.0
#
# Helpers of the hostile group, sourced after common.sh.  A refused request
# must change nothing; reading the pool's records after every one of
# hundreds of requests is done by one io process (io_start), whose answers
# are read without a subshell: under emulation every fork costs.

# ask WORD...: send a command to the io process; its answer in REPLY.
ask() {
	echo "$*" >&"$_IO_W"
	read -r REPLY <&"$_IO_R" || fail "the io process died on: $*"
}

# pool_state POOL DISK_ID...: set S to the pool's 'info pool' (its
# transaction id and space, as in its status), 'list_disks' and the
# 'list_snapshots' of each disk given.
pool_state() {
	local pool=/dev/mapper/$1 d
	shift
	ask msg "$pool" info pool
	S=$REPLY
	ask msg "$pool" list_disks
	S+=$'\n'$REPLY
	for d in "$@"; do
		ask msg "$pool" list_snapshots "$d"
		S+=$'\n'$REPLY
	done
	[[ $S != *error:* ]] || fail "reading the state of $pool: $S"
}

# same_state BEFORE AFTER WHAT: fail, showing the difference, unless equal.
same_state() {
	[[ $2 == "$1" ]] && return 0
	diff <(echo "$1") <(echo "$2") || true
	fail "$3 changed the pool"
}
