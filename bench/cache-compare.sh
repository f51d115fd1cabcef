#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# The mapping cache against no cache, beside dm-linear, in one guest:
#   scripts/vm run --cmd "DMROW_SRC=$PWD bash $PWD/bench/cache-compare.sh"
# Two disks of one pool on a brd RAM disk, one loaded with the default
# map_cache_mb and one with map_cache_mb=0, and a dm-linear device on a
# slice of the same RAM disk; each prefilled, then fio workloads alternate
# the three, three repeats.  Prints: workload target repeat IOPS KiB/s.
set -e
modprobe brd rd_nr=1 rd_size=$((900*1024))
modprobe dm-mod
modprobe -a dm-bufio libcrc32c; for d in $(modinfo -F depends $DMROW_SRC/build/$(uname -r)/dm-row.ko | tr , " "); do modprobe $d; done; insmod $DMROW_SRC/build/$(uname -r)/dm-row.ko
R=/dev/ram0
dmsetup create meta --table "0 $((64*2048)) linear $R 0"
dmsetup create data --table "0 $((512*2048)) linear $R $((64*2048))"
dmsetup create slice --table "0 $((128*2048)) linear $R $((576*2048))"
dmsetup create lin --table "0 $((128*2048)) linear /dev/mapper/slice 0"
dd if=/dev/zero of=/dev/mapper/meta bs=1M count=1 oflag=direct status=none
dmsetup create pool --table "0 $((512*2048)) row-pool /dev/mapper/meta /dev/mapper/data 8 0"
dmsetup message pool 0 create_disk 1 $((128*2048))
dmsetup create cache --table "0 $((128*2048)) row /dev/mapper/pool 1"
echo 0 > /sys/module/dm_row/parameters/map_cache_mb
dmsetup message pool 0 create_disk 2 $((128*2048))
dmsetup create nocache --table "0 $((128*2048)) row /dev/mapper/pool 2"
for d in cache nocache lin; do
  fio --name=fill --filename=/dev/mapper/$d --rw=write --bs=1M --direct=1 --size=128M --output=/dev/null
done
w() { # name fio-args...
  local n=$1; shift
  for rep in 1 2 3; do
    for d in lin cache nocache; do
      v=$(fio --name=p --filename=/dev/mapper/$d --direct=1 --ioengine=libaio --time_based --runtime=3 --size=128M --output-format=terse "$@" 2>/dev/null | awk -F';' '{print $8 + $49, $7 + $48}')
      echo "$n $d $rep $v"
    done
  done
}
w randread-qd1 --rw=randread --bs=4k --iodepth=1
w randwrite-qd1 --rw=randwrite --bs=4k --iodepth=1
w randread-qd32 --rw=randread --bs=4k --iodepth=32
w seqread-1M --rw=read --bs=1M --iodepth=4
dmsetup status cache nocache
