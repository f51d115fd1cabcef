#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""
The benchmark suites, run inside the VM by scripts/bench.

Every target under test sits on dm-linear slices of one brd RAM disk, so the
backing device is never the bottleneck and is the same for all of them.
Targets are set up side by side and measured alternately, each measurement
repeated (BENCH_REPEATS, 3 by default); the report takes the median.  Beside
IOPS every fio run records the write amplification (sectors written to the
target's backing slices over sectors written to the target) and the CPU time
per I/O (all CPUs' busy time over the run, over the I/Os done: it includes
the kernel's worker threads, which fio's own CPU figures miss).

Results go to $VM_OUTDIR/bench.json as a list of records; bench/report.py
turns them into tables and plots.  Nothing here asserts anything: a
benchmark reports, tests check.

Environment: BENCH_SUITES (letters, default "abcdefghi"), BENCH_REPEATS,
BENCH_RUNTIME (seconds per fio run, default 3), BENCH_QUICK=1 (tiny sizes,
for trying the harness out).
"""
import json
import os
import subprocess
import sys
import tempfile
import threading
import time

SRC = os.environ["DMROW_SRC"]
OUT = os.environ.get("VM_OUTDIR", "/tmp")
FIO_DIR = os.path.join(SRC, "bench", "fio")
SNAPCTL = os.path.join(SRC, "build", "snapctl")
QUICK = os.environ.get("BENCH_QUICK") == "1"
REPEATS = int(os.environ.get("BENCH_REPEATS", "1" if QUICK else "3"))
RUNTIME = int(os.environ.get("BENCH_RUNTIME", "2" if QUICK else "3"))
SUITES = os.environ.get("BENCH_SUITES", "abcdefghi")
MiB = 1 << 20
REGION_MIB = 16 if QUICK else 128        # the part of each device fio uses
SCALING_COUNTS = [0, 1, 4] if QUICK else [0, 1, 16, 256, 512]
DEPTHS = [1, 4] if QUICK else [1, 8, 32, 128, 512]
SNAPSHOT_ORIGIN_MAX = 16                  # dm-snapshot: every snapshot slows every write
# Suites d and h: a snapshot every second under 4k random writes at qd4.
SNAP_REGION_MIB = 32 if QUICK else 256    # the region fio writes (issue 19: 256 MiB)
# Suite b's region: each block is written once, so at ~25k IOPS 256 MiB
# makes runs of about 3 s, as the other suites'; 64 MiB ran under a second
# and its ratios moved by 0.2 between identical runs.
FIRST_WRITE_MIB = 32 if QUICK else 256
SNAP_RUNTIME = 4 if QUICK else 10         # seconds per run, one snapshot a second

results = []


STARTED = time.time()


def log(msg):
    print(f"bench: [{time.time() - STARTED:5.0f} s] {msg}", flush=True)


def run(*cmd, check=True, capture=True, env=None, stdin=None):
    proc = subprocess.run([str(c) for c in cmd], check=False, text=True, env=env,
                          stdout=subprocess.PIPE if capture else None,
                          stderr=subprocess.PIPE if capture else None, input=stdin)
    if check and proc.returncode:
        raise RuntimeError(f"{' '.join(map(str, cmd))}: exit {proc.returncode}: "
                           f"{(proc.stderr or '').strip()}")
    return proc.stdout if capture else ""


def record(**fields):
    results.append(fields)
    with open(os.path.join(OUT, "bench.json"), "w") as f:
        json.dump(results, f, indent=1)


# ---------------------------------------------------------------------------
# Devices

def dm_create(name, table, readonly=False):
    run("dmsetup", "create", name, *(["--readonly"] if readonly else []), "--table", table)
    return f"/dev/mapper/{name}"


def dm_remove(name):
    for _ in range(20):
        if run("dmsetup", "remove", name, check=False) == "" and not os.path.exists(
                f"/dev/mapper/{name}"):
            return
        time.sleep(0.2)
    run("dmsetup", "remove", "--force", name, check=False)


def dm_message(name, *words):
    return run("dmsetup", "message", name, "0", *words).strip()


def sectors(dev):
    return int(run("blockdev", "--getsz", dev))


def sectors_written(dev):
    """Sectors written to a device since boot (/sys/block/<dm-N>/stat)."""
    rdev = os.stat(dev).st_rdev
    with open(f"/sys/dev/block/{os.major(rdev)}:{os.minor(rdev)}/stat") as f:
        return int(f.read().split()[6])


def cpu_busy_seconds():
    with open("/proc/stat") as f:
        fields = [int(x) for x in f.readline().split()[1:]]
    idle = fields[3] + fields[4]
    return (sum(fields[:8]) - idle) / os.sysconf("SC_CLK_TCK")


def zero(dev, mib):
    run("dd", "if=/dev/zero", f"of={dev}", "bs=1M", f"count={mib}", "oflag=direct",
        "status=none")


class Backing:
    """A brd RAM disk cut into dm-linear slices, handed out in order.

    brd allocates and zeroes a page the first time each 4 KiB is written,
    a cost no real disk has, and one that falls only on targets that write
    somewhere new: a redirect or a copy-on-write target pays it on every
    first write, dm-linear over a prefilled region never.  So the RAM disk
    the first suites share is written whole once, before anything is
    measured.  A reload (suites d, h and i: more room than the guest could
    hold written) starts empty again, for them and the suites after: d
    compares two targets that both write new places, the others compare a
    target with itself or time whole operations."""

    def __init__(self, mib):
        self.mib = mib
        self.load()
        self.slices = []
        log(f"writing the {mib} MiB RAM disk once")
        zero(self.dev, mib)

    def load(self):
        run("modprobe", "brd", "rd_nr=1", f"rd_size={self.mib * 1024}", "max_part=0")
        self.dev = "/dev/ram0"
        self.size = sectors(self.dev)
        self.next = 0

    def reload(self, mib=None):
        """Remove every slice and load the RAM disk again, at least mib MiB.

        brd keeps every page ever written until it is unloaded: reloading
        gives the guest's memory back between runs that write a lot."""
        self.reset()
        self.mib = max(self.mib, mib or 0)
        for _ in range(50):
            if subprocess.run(["modprobe", "-r", "brd"], capture_output=True).returncode == 0:
                break
            time.sleep(0.2)
        else:
            raise RuntimeError("brd cannot be unloaded")
        self.load()

    def slice(self, mib):
        name = f"bench-slice{len(self.slices)}"
        length = mib * 2048
        if self.next + length > self.size:
            raise RuntimeError("the RAM disk is too small for this suite")
        dev = dm_create(name, f"0 {length} linear {self.dev} {self.next}")
        self.next += length
        self.slices.append(name)
        return dev

    def reset(self):
        """Remove every slice (targets must be gone) and start again at 0."""
        for name in reversed(self.slices):
            dm_remove(name)
        self.slices = []
        self.next = 0


class Target:
    """A device under test, its backing slices, and how to snapshot it."""
    kind = "?"

    def __init__(self, backing, label):
        self.backing = backing
        self.label = label
        self.names = []             # dm devices to remove, in creation order
        self.slices = []

    def slice(self, mib):
        dev = self.backing.slice(mib)
        self.slices.append(dev)
        return dev

    def snapshot(self):
        raise NotImplementedError

    def destroy(self):
        for name in reversed(self.names):
            dm_remove(name)
        self.names = []


class Linear(Target):
    """A dm-linear target over its slice, as every other target is a target
    over its slices: the slice itself would be one device-mapper layer (a
    clone, a submission, an endio) fewer than anything compared with it."""
    kind = "dm-linear"

    def __init__(self, backing, mib, label="dm-linear"):
        super().__init__(backing, label)
        backing_dev = self.slice(mib)
        name = f"bench-linear{len(backing.slices)}"
        self.dev = dm_create(name, f"0 {sectors(backing_dev)} linear {backing_dev} 0")
        self.names.append(name)


class Row(Target):
    kind = "dm-row"

    def __init__(self, backing, mib, label="dm-row", block_sectors=8, disk_mib=None,
                 meta_mib=None, features=()):
        super().__init__(backing, label)
        self.meta = self.slice(meta_mib or (8 if QUICK else 32))
        self.data = self.slice(mib)
        zero(self.meta, 1)
        self.pool = f"bench-row{id(self) % 10000}"
        feats = f" {len(features)} {' '.join(features)}" if features else ""
        dm_create(self.pool, f"0 {sectors(self.data)} row-pool {self.meta} {self.data} "
                             f"{block_sectors} 0{feats}")
        self.names.append(self.pool)
        dm_message(self.pool, "set_quota", "1024", "256")
        self.disk_sectors = (disk_mib or mib) * 2048
        dm_message(self.pool, "create_disk", "1", str(self.disk_sectors))
        self.dev = dm_create(f"{self.pool}-d1", f"0 {self.disk_sectors} row /dev/mapper/{self.pool} 1")
        self.names.append(f"{self.pool}-d1")
        self.snapshots = []

    def add_disk(self, disk_id, mib, label):
        """Another disk of the same pool, as a Target of its own.  Its slices
        are left empty: the pool's backing is shared, so a write
        amplification of one disk cannot be told apart."""
        dm_message(self.pool, "create_disk", str(disk_id), str(mib * 2048))
        name = f"{self.pool}-d{disk_id}"
        disk = Target(self.backing, label)
        disk.dev = dm_create(name, f"0 {mib * 2048} row /dev/mapper/{self.pool} {disk_id}")
        self.names.append(name)
        return disk

    def snapshot(self, disk_id=1):
        answer = dm_message(self.pool, "snapshot", str(disk_id))
        self.snapshots.append(int(answer.split()[0].split("=")[-1]) if "=" in answer
                              else int(answer.split()[0]))
        return self.snapshots[-1]

    def view(self, snap_id):
        name = f"{self.pool}-v{snap_id}"
        dev = dm_create(name, f"0 {self.disk_sectors} row /dev/mapper/{self.pool} 1 {snap_id}",
                        readonly=True)
        return name, dev

    def status(self):
        # <txn> <meta used>/<total> <data used>/<total> <mode> ...
        fields = run("dmsetup", "status", self.pool).split()[3:]
        meta_used = int(fields[1].split("/")[0])
        data_used = int(fields[2].split("/")[0])
        return meta_used, data_used

    def space(self):
        return pool_space(self.pool, 3)


def pool_space(pool, mode_field):
    """A row-pool's or thin-pool's data blocks used, total, and its mode
    (rw, ro, out_of_data_space, Fail: a run that filled its pool measured
    nothing).  Both statuses start <transaction> <metadata used>/<total>
    <data used>/<total>; the mode is field mode_field from there (dm-thin
    has its held metadata root before it)."""
    fields = run("dmsetup", "status", pool).split()[3:]
    if len(fields) <= mode_field:
        return {"data_used": None, "data_total": None, "pool_mode": " ".join(fields)}
    used, total = (int(x) for x in fields[2].split("/"))
    return {"data_used": used, "data_total": total, "pool_mode": fields[mode_field]}


class Thin(Target):
    kind = "dm-thin"

    def __init__(self, backing, mib, label="dm-thin", block_sectors=128, thin_mib=None,
                 features=()):
        super().__init__(backing, label)
        self.meta = self.slice(8 if QUICK else 32)
        self.data = self.slice(mib)
        zero(self.meta, 1)
        self.pool = f"bench-thin{id(self) % 10000}"
        feats = ("skip_block_zeroing",) + tuple(features)
        dm_create(self.pool, f"0 {sectors(self.data)} thin-pool {self.meta} {self.data} "
                             f"{block_sectors} 0 {len(feats)} {' '.join(feats)}")
        self.names.append(self.pool)
        self.thin_sectors = (thin_mib * 2048) if thin_mib else mib * 2048 * 3 // 4
        dm_message(self.pool, "create_thin", "0")
        self.thin = f"{self.pool}-t0"
        self.dev = dm_create(self.thin, f"0 {self.thin_sectors} thin /dev/mapper/{self.pool} 0")
        self.names.append(self.thin)
        self.next_id = 1

    def snapshot(self):
        snap_id = self.next_id
        self.next_id += 1
        run("dmsetup", "suspend", self.thin)
        try:
            dm_message(self.pool, "create_snap", str(snap_id), "0")
        finally:
            run("dmsetup", "resume", self.thin)
        return snap_id

    def view(self, snap_id):
        name = f"{self.pool}-v{snap_id}"
        dev = dm_create(name, f"0 {self.thin_sectors} thin /dev/mapper/{self.pool} {snap_id}",
                        readonly=True)
        return name, dev

    def space(self):
        return pool_space(self.pool, 4)


class OldSnapshot(Target):
    """dm-snapshot: a snapshot-origin over the origin slice, one COW slice per snapshot."""
    kind = "dm-snapshot"

    def __init__(self, backing, mib, label="dm-snapshot", chunk_sectors=8, cow_mib=None):
        super().__init__(backing, label)
        self.origin = self.slice(mib)
        self.cow_mib = cow_mib or mib
        self.chunk = chunk_sectors
        self.name = f"bench-origin{id(self) % 10000}"
        self.dev = dm_create(self.name, f"0 {sectors(self.origin)} snapshot-origin {self.origin}")
        self.names.append(self.name)
        self.count = 0

    def snapshot(self):
        cow = self.slice(self.cow_mib)
        zero(cow, 1)            # a fresh persistent-snapshot header
        self.count += 1
        name = f"{self.name}-s{self.count}"
        run("dmsetup", "suspend", self.name)
        try:
            dm_create(name, f"0 {sectors(self.origin)} snapshot {self.origin} {cow} P {self.chunk}")
        finally:
            run("dmsetup", "resume", self.name)
        self.names.append(name)
        return self.count


# ---------------------------------------------------------------------------
# Measuring

def fio(job, target, **params):
    """Run bench/fio/<job>.fio on target; return its figures."""
    env = dict(os.environ)
    env.update({k: str(v) for k, v in params.items()})
    env["TARGET"] = target.dev
    env.setdefault("SIZE", str(REGION_MIB * MiB))
    env.setdefault("RUNTIME", str(RUNTIME))
    env.setdefault("RAMP", "0")
    env.setdefault("MIX", "50")
    env.setdefault("IOPS_LOG", "/tmp/bench-iops")
    devs = [target.dev] + target.slices
    before = [sectors_written(d) for d in devs]
    cpu0 = cpu_busy_seconds()
    out = run("fio", "--output-format=json", os.path.join(FIO_DIR, f"{job}.fio"), env=env)
    cpu = cpu_busy_seconds() - cpu0
    after = [sectors_written(d) for d in devs]
    job_out = json.loads(out[out.index("{"):])["jobs"][0]
    rd, wr = job_out["read"], job_out["write"]
    ios = rd["total_ios"] + wr["total_ios"]
    written = after[0] - before[0]
    backing_written = sum(a - b for a, b in zip(after[1:], before[1:]))
    main = wr if wr["total_ios"] >= rd["total_ios"] else rd
    pct = main.get("clat_ns", {}).get("percentile", {})
    return {
        "iops": rd["iops"] + wr["iops"],
        "mibs": (rd["bw"] + wr["bw"]) / 1024,
        "p50_us": pct.get("50.000000", 0) / 1000,
        "p99_us": pct.get("99.000000", 0) / 1000,
        "p999_us": pct.get("99.900000", 0) / 1000,
        "write_amplification": (backing_written / written
                                if written and target.slices else None),
        "cpu_us_per_io": cpu * 1e6 / ios if ios else None,
        "ios": ios,
    }


def prefill(target, mib=None):
    """Write the whole region once, sequentially, so reads hit written blocks."""
    env = dict(os.environ, TARGET=target.dev, SIZE=str((mib or REGION_MIB) * MiB), BS="1M",
               QD="4")
    job = ("[global]\nioengine=libaio\ndirect=1\nfilename=${TARGET}\nsize=${SIZE}\n"
           "refill_buffers\n[fill]\nrw=write\nbs=${BS}\niodepth=${QD}\n")
    with tempfile.NamedTemporaryFile("w", suffix=".fio", delete=False) as f:
        f.write(job)
    run("fio", "--output-format=terse", f.name, env=env)
    os.unlink(f.name)


def write_delta(dev, blocks, seed, span_mib):
    """Write a few scattered 4 KiB blocks and flush: a snapshot's delta."""
    fd = os.open(dev, os.O_WRONLY)
    try:
        span = span_mib * MiB // 4096
        for i in range(blocks):
            block = (seed * 7919 + i * 104729) % span
            os.pwrite(fd, os.urandom(4096), block * 4096)
        os.fsync(fd)
    finally:
        os.close(fd)


def timed(fn, *args):
    start = time.perf_counter()
    value = fn(*args)
    return time.perf_counter() - start, value


# ---------------------------------------------------------------------------
# Suites

WORKLOADS = [
    ("4k randwrite qd1", dict(RW="randwrite", BS="4k", QD=1)),
    ("4k randwrite qd32", dict(RW="randwrite", BS="4k", QD=32)),
    ("4k randread qd1", dict(RW="randread", BS="4k", QD=1)),
    ("4k randread qd32", dict(RW="randread", BS="4k", QD=32)),
    ("4k 70/30 qd1", dict(RW="randrw", MIX=70, BS="4k", QD=1)),
    ("4k 70/30 qd32", dict(RW="randrw", MIX=70, BS="4k", QD=32)),
    ("1M seq write", dict(RW="write", BS="1M", QD=4)),
    ("1M seq read", dict(RW="read", BS="1M", QD=4)),
]


def suite_a(backing):
    """Raw speed without snapshots: dm-row and dm-thin against dm-linear."""
    targets = [Linear(backing, REGION_MIB), Row(backing, REGION_MIB + 16),
               Thin(backing, REGION_MIB * 4 // 3 + 16)]
    for t in targets:
        prefill(t)
    row = targets[1]
    meta_used, data_used = row.status()
    record(suite="g", metric="metadata bytes per mapped block (prefilled disk)",
           value=meta_used * 4096 / max(data_used, 1), meta_blocks=meta_used,
           data_blocks=data_used)
    for name, params in WORKLOADS:
        for rep in range(REPEATS):
            order = targets[rep % len(targets):] + targets[:rep % len(targets)]
            for t in order:
                log(f"a: {name} on {t.label} ({rep + 1}/{REPEATS})")
                record(suite="a", workload=name, target=t.label, repeat=rep,
                       **fio("workload", t, **params))
    for t in targets:
        t.destroy()


SEQ_FIRST_WRITE = "1M sequential first write after snapshot qd4"


def suite_b(backing):
    """The first write to each block after a snapshot: 4k at random, then
    (dm-linear, dm-row and dm-thin, after another snapshot) 1 MiB in order,
    as a restore or a copy into the disk writes."""
    mib = FIRST_WRITE_MIB
    specs = [
        ("dm-linear (no snapshot)", lambda: Linear(backing, mib)),
        ("dm-row 4k", lambda: Row(backing, 3 * mib + 16)),
        ("dm-thin 64k", lambda: Thin(backing, 3 * mib + 32, block_sectors=128)),
        ("dm-snapshot 4k", lambda: OldSnapshot(backing, mib, chunk_sectors=8,
                                               cow_mib=mib + 16)),
        ("dm-snapshot 64k", lambda: OldSnapshot(backing, mib, chunk_sectors=128,
                                                cow_mib=mib + 16)),
    ]
    for rep in range(REPEATS):
        for label, make in specs:
            t = make()
            t.label = label
            prefill(t, mib)
            if not isinstance(t, Linear):
                t.snapshot()
            log(f"b: first writes on {label} ({rep + 1}/{REPEATS})")
            record(suite="b", workload="4k first write after snapshot qd32", target=label,
                   repeat=rep, region_mib=mib,
                   **fio("first-write", t, SIZE=mib * MiB, RW="randwrite", BS="4k", QD=32))
            if not isinstance(t, OldSnapshot):
                if not isinstance(t, Linear):
                    t.snapshot()
                log(f"b: sequential first writes on {label} ({rep + 1}/{REPEATS})")
                record(suite="b", workload=SEQ_FIRST_WRITE, target=label, repeat=rep,
                       region_mib=mib,
                       **fio("first-write", t, SIZE=mib * MiB, RW="write", BS="1M", QD=4))
            t.destroy()
            backing.reset()


def suite_c(backing):
    """Write IOPS against the number of snapshots; old-snapshot reads against depth."""
    for make, label, counts in [
        # Every count from 1 on starts a new epoch in which fio's writes
        # break sharing over the whole region, beside the deltas: room for
        # five epochs and 512 deltas at dm-thin's 64 KiB blocks.
        (lambda: Row(backing, REGION_MIB * 8), "dm-row", SCALING_COUNTS),
        (lambda: Thin(backing, REGION_MIB * 8), "dm-thin", SCALING_COUNTS),
        (lambda: OldSnapshot(backing, REGION_MIB // 2, cow_mib=4 if QUICK else 24),
         "dm-snapshot", [n for n in SCALING_COUNTS if n <= SNAPSHOT_ORIGIN_MAX]),
    ]:
        t = make()
        t.label = label
        size = REGION_MIB // 2 * MiB
        prefill(t, REGION_MIB // 2)
        taken = 0
        depths = DEPTHS if label != "dm-snapshot" else []
        for n in sorted(set(counts) | set(depths)):
            while taken < n:
                write_delta(t.dev, 8, taken, REGION_MIB // 2)
                t.snapshot()
                taken += 1
            if n in depths:
                name, dev = t.view(1)
                view = Target(backing, label)
                view.dev = dev
                for rep in range(REPEATS):
                    log(f"c: oldest-snapshot reads on {label} at depth {n} ({rep + 1}/{REPEATS})")
                    record(suite="c", workload="4k randread qd32 of the oldest snapshot",
                           target=label, snapshots=n, repeat=rep,
                           **fio("workload", view, SIZE=size, RW="randread", BS="4k", QD=32))
                dm_remove(name)
            if n in counts:
                for rep in range(REPEATS):
                    log(f"c: writes on {label} with {n} snapshots ({rep + 1}/{REPEATS})")
                    record(suite="c", workload="4k randwrite qd32", target=label, snapshots=n,
                           repeat=rep,
                           **fio("workload", t, SIZE=size, RW="randwrite", BS="4k", QD=32))
        if isinstance(t, Row):
            meta_used, data_used = t.status()
            record(suite="g", metric=f"metadata bytes per mapped block ({taken} snapshots)",
                   value=meta_used * 4096 / max(data_used, 1), meta_blocks=meta_used,
                   data_blocks=data_used)
        t.destroy()
        backing.reset()


def device_activity(dev):
    """(sectors written since boot, writes in flight) of a device."""
    rdev = os.stat(dev).st_rdev
    base = f"/sys/dev/block/{os.major(rdev)}:{os.minor(rdev)}"
    with open(f"{base}/stat") as f:
        written = int(f.read().split()[6])
    with open(f"{base}/inflight") as f:
        inflight = int(f.read().split()[1])
    return written, inflight


class Snapshotter:
    """Takes a snapshot every second, on a fixed grid, in a thread, timing
    each one from the start of its command to its return.  A snapshot that
    takes longer than a second delays the next; none are taken to catch up.

    Snapshots are taken only while the measured device (watch) is being
    written: the first a second after its first write, none once a check
    finds nothing written since the last and nothing in flight.  Starting a
    process is slow in the guest (its binaries come over 9p), so fio's own
    start and end take seconds that are not part of its run.

    If baseline is given, it runs right after each snapshot and is timed
    too: an `info pool` message, the fixed cost of a message (process start
    and ioctl), as suite e subtracts it."""

    def __init__(self, take, watch, baseline=None):
        self.take = take
        self.watch = watch
        self.baseline = baseline
        self.seconds = []
        self.baselines = []
        self.error = None
        self.halt = threading.Event()
        self.thread = threading.Thread(target=self.loop)

    def busy(self):
        written, inflight = device_activity(self.watch)
        changed = written != self.written
        self.written = written
        return changed or inflight > 0

    def loop(self):
        try:
            self.written = device_activity(self.watch)[0]
            while not self.busy():
                if self.halt.wait(0.01):
                    return
            due = time.perf_counter() + 1.0
            while not self.halt.wait(max(0.0, due - time.perf_counter())):
                if not self.busy():
                    break
                seconds, _ = timed(self.take)
                self.seconds.append(seconds)
                if self.baseline:
                    seconds, _ = timed(self.baseline)
                    self.baselines.append(seconds)
                due = max(due + 1.0, time.perf_counter())
        except Exception as e:          # reported by stop()
            self.error = e

    def start(self):
        self.thread.start()

    def stop(self):
        self.halt.set()
        self.thread.join()
        if self.error:
            raise self.error

    def figures(self):
        fields = {"snapshots_taken": len(self.seconds), "snapshot_seconds": self.seconds,
                  "snapshot_seconds_max": max(self.seconds, default=0)}
        if self.baseline:
            fields["message_baseline_seconds"] = self.baselines
        return fields


def iops_windows(log_path):
    """The 250 ms IOPS windows of fio's write_iops_log, and remove the log."""
    for path in (log_path + "_iops.1.log", log_path + "_iops.log"):
        if os.path.exists(path):
            with open(path) as f:
                windows = [int(line.split(",")[1]) for line in f if line.strip()]
            os.unlink(path)
            return windows
    return []


def latency_run(target, size_mib, runtime, log_path):
    """bench/fio/latency.fio (4k random write, qd4) with its IOPS windows."""
    figures = fio("latency", target, SIZE=size_mib * MiB, RUNTIME=runtime, IOPS_LOG=log_path)
    windows = iops_windows(log_path)
    figures["iops_min_window"] = min(windows) if windows else 0
    figures["iops_median_window"] = sorted(windows)[len(windows) // 2] if windows else 0
    return figures


# Suite d's runs: label, a snapshot every second, an `info pool` message timed
# right after each snapshot.  That baseline message is a run of its own
# (dm-row only): today every message commits, so it would slow the run that
# is compared with dm-thin's, which has no such message.
D_RUNS = [
    ("no snapshots", False, False),
    ("snapshot every second", True, False),
    ("snapshot every second, info message after each", True, True),
]


def suite_d(backing):
    """Latency and IOPS while a snapshot is taken every second: dm-row, dm-thin."""
    region = SNAP_REGION_MIB
    # Each epoch (the prefill, then the one after every snapshot) may write the
    # whole region again: dm-thin does, with 64 KiB blocks under 4 KiB random
    # writes.  Room for twice as many epochs as the run has seconds, for both
    # pools, so neither runs out: a full pool measures nothing
    # (error_if_no_space makes it fail at once instead of queueing).
    # The RAM disk only holds what is written, so the room costs nothing.
    pool_mib = region * (2 * SNAP_RUNTIME + 4)
    row_meta = 16 if QUICK else 128
    targets = [
        ("dm-row", lambda: Row(backing, pool_mib, disk_mib=region, meta_mib=row_meta,
                               features=("error_if_no_space",))),
        ("dm-thin", lambda: Thin(backing, pool_mib, thin_mib=region,
                                 features=("error_if_no_space",))),
    ]
    # Room for either pool alone (one target exists at a time); the RAM disk is
    # reloaded after every run to give back the memory the run wrote.
    backing.reload(pool_mib + row_meta + 16)
    for rep in range(REPEATS):
        for run_label, with_snapshots, timed_against_info in D_RUNS:
            order = targets[rep % 2:] + targets[:rep % 2]
            for label, make in order:
                if timed_against_info and label != "dm-row":
                    continue
                t = make()
                prefill(t, region)
                snapper = None
                if with_snapshots:
                    info = (lambda t=t: dm_message(t.pool, "info", "pool"))
                    snapper = Snapshotter(t.snapshot, t.dev,
                                          info if timed_against_info else None)
                    snapper.start()
                log(f"d: {label}, {run_label} ({rep + 1}/{REPEATS})")
                try:
                    figures = latency_run(t, region, SNAP_RUNTIME, f"/tmp/bench-iops-{rep}")
                finally:
                    if snapper:
                        snapper.stop()
                space = t.space()
                log(f"d: {label} pool data {space['data_used']}/{space['data_total']} blocks, "
                    f"{space['pool_mode']}")
                record(suite="d", target=label, workload=run_label, repeat=rep,
                       region_mib=region, pool_mib=pool_mib,
                       **(snapper.figures() if snapper else {"snapshots_taken": 0}),
                       **space, **figures)
                t.destroy()
                backing.reload()


def background_fio(target, size_mib, runtime, **params):
    """Start bench/fio/background.fio on target; returns the process."""
    env = dict(os.environ, TARGET=target.dev, SIZE=str(size_mib * MiB), RUNTIME=str(runtime),
               ENGINE="libaio", QD="1", RATE_IOPS="0", FSYNC="0")
    env.update({k: str(v) for k, v in params.items()})
    return subprocess.Popen(["fio", "--output-format=json",
                             os.path.join(FIO_DIR, "background.fio")],
                            env=env, text=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def background_iops(proc):
    out, err = proc.communicate()
    if proc.returncode:
        raise RuntimeError(f"background fio: exit {proc.returncode}: {err.strip()}")
    return json.loads(out[out.index("{"):])["jobs"][0]["write"]["iops"]


# Suite h: what disk A and disk C do beside disk B in each run.
LIGHT_IOPS = 100           # disk A's writes while it is snapshotted: 4k random, qd1
ISOLATION_RUNS = [
    ("B alone", None),
    ("B, disk A snapshotted every second",
     f"disk A: 4k random writes at qd1 capped at {LIGHT_IOPS} IOPS, a snapshot of A every "
     "second"),
    ("B, disk C writing with fsync=1",
     "disk C: 4k random writes, psync, fsync after every write, uncapped"),
]
# The control: the same runs on plain dm-linear slices of the same backing;
# in place of A's snapshot, a `dmsetup status` of A every second (the
# process and ioctl a snapshot message costs, without the snapshot).
LINEAR_ISOLATION_RUNS = [
    ISOLATION_RUNS[0],
    (ISOLATION_RUNS[1][0], f"disk A: 4k random writes at qd1 capped at {LIGHT_IOPS} IOPS, a "
     "`dmsetup status` of A every second"),
    ISOLATION_RUNS[2],
]


def suite_h(backing):
    """Isolation: one disk's writes while another disk of the pool is snapshotted or syncs."""
    region_b = REGION_MIB
    region_ac = 16 if QUICK else 64
    # B is never snapshotted: its writes land in place after the prefill.  A's
    # epochs may each rewrite A's region; C overwrites its prefilled region.
    pool_mib = region_b + region_ac * (2 * SNAP_RUNTIME + 4) + region_ac + 64
    meta_mib = 16 if QUICK else 64
    backing.reload(pool_mib + meta_mib + 16)
    for rep in range(REPEATS):
        runs = ISOLATION_RUNS[rep % 3:] + ISOLATION_RUNS[:rep % 3]
        for label, background in runs:
            pool = Row(backing, pool_mib, disk_mib=region_b, meta_mib=meta_mib,
                       features=("error_if_no_space",))
            disk_b = Target(backing, "dm-row disk B")
            disk_b.dev = pool.dev           # disk 1; slices left empty (shared pool)
            disk_a = pool.add_disk(2, region_ac, "dm-row disk A")
            disk_c = pool.add_disk(3, region_ac, "dm-row disk C")
            for disk, mib in ((disk_b, region_b), (disk_a, region_ac), (disk_c, region_ac)):
                prefill(disk, mib)
            proc = snapper = None
            # The background starts first and outlasts B's run.
            if label.startswith("B, disk A"):
                proc = background_fio(disk_a, region_ac, SNAP_RUNTIME + 1, RATE_IOPS=LIGHT_IOPS)
                snapper = Snapshotter(lambda: pool.snapshot(2), disk_b.dev)
                snapper.start()
            elif label.startswith("B, disk C"):
                proc = background_fio(disk_c, region_ac, SNAP_RUNTIME + 1, ENGINE="psync",
                                      FSYNC=1)
            if proc:
                time.sleep(0.5)
            log(f"h: {label} ({rep + 1}/{REPEATS})")
            try:
                figures = latency_run(disk_b, region_b, SNAP_RUNTIME, f"/tmp/bench-iops-h{rep}")
            finally:
                if snapper:
                    snapper.stop()
            other = background_iops(proc) if proc else None
            space = pool.space()
            record(suite="h", target="dm-row disk B", workload=label, background=background,
                   background_iops=other, repeat=rep, region_mib=region_b,
                   **(snapper.figures() if snapper else {}), **space, **figures)
            pool.destroy()
            backing.reload()
        # The same pair on dm-linear: how much of B's loss beside C's
        # write+fsync loop is the emulated CPUs, which any target shares.
        for label, background in LINEAR_ISOLATION_RUNS:
            disk_b = Linear(backing, region_b, "dm-linear B")
            other_disk = Linear(backing, region_ac, "dm-linear A or C")
            for disk, mib in ((disk_b, region_b), (other_disk, region_ac)):
                prefill(disk, mib)
            proc = ticker = None
            if label.startswith("B, disk A"):
                # A's load and a command a second, as the snapshots' cost
                # in processes and ioctls, without a snapshot.
                proc = background_fio(other_disk, region_ac, SNAP_RUNTIME + 1,
                                      RATE_IOPS=LIGHT_IOPS)
                ticker = Snapshotter(lambda: run("dmsetup", "status", other_disk.dev),
                                     disk_b.dev)
                ticker.start()
            elif background:
                proc = background_fio(other_disk, region_ac, SNAP_RUNTIME + 1,
                                      ENGINE="psync", FSYNC=1)
            if proc:
                time.sleep(0.5)
            log(f"h: dm-linear {label} ({rep + 1}/{REPEATS})")
            try:
                figures = latency_run(disk_b, region_b, SNAP_RUNTIME,
                                      f"/tmp/bench-iops-h{rep}")
            finally:
                if ticker:
                    ticker.stop()
            other = background_iops(proc) if proc else None
            record(suite="h", target="dm-linear B", workload=label, background=background,
                   background_iops=other, repeat=rep, region_mib=region_b, **figures)
            other_disk.destroy()
            disk_b.destroy()
            backing.reload()


def time_message(pool, *words):
    seconds, _ = timed(dm_message, pool, *words)
    baseline, _ = timed(dm_message, pool, "info", "pool")
    return seconds, baseline


def suite_e(backing):
    """Delete against delta and disk size; rollback; clone."""
    deltas = [256, 2048] if QUICK else [256, 4096, 32768]
    for rep in range(REPEATS):
        for delta in deltas:
            t = Row(backing, delta * 4 // 1024 * 2 + 32, disk_mib=1024)
            prefill(t, delta * 4 // 1024)
            t.snapshot()
            prefill(t, delta * 4 // 1024)     # snapshot 1 now holds its delta alone
            t.snapshot()
            seconds, base = time_message(t.pool, "delete_snapshot", "1")
            record(suite="e", operation="delete", delta_blocks=delta, disk_gib=1,
                   seconds=seconds, message_baseline_seconds=base, repeat=rep)
            t.destroy()
            backing.reset()
        for disk_gib in ([1, 64] if QUICK else [1, 64, 4096]):
            t = Row(backing, 64, disk_mib=disk_gib * 1024)
            prefill(t, 16)
            t.snapshot()
            prefill(t, 16)
            t.snapshot()
            seconds, base = time_message(t.pool, "delete_snapshot", "1")
            record(suite="e", operation="delete", delta_blocks=4096, disk_gib=disk_gib,
                   seconds=seconds, message_baseline_seconds=base, repeat=rep)
            t.destroy()
            backing.reset()
        mapped_mib = 16 if QUICK else 128
        t = Row(backing, mapped_mib * 2 + 32, disk_mib=1024)
        prefill(t, mapped_mib)
        snap = t.snapshot()
        prefill(t, mapped_mib // 8)
        seconds, base = time_message(t.pool, "clone", str(snap), "2")
        record(suite="e", operation="clone", mapped_blocks=mapped_mib * 256, seconds=seconds,
               message_baseline_seconds=base, repeat=rep)
        run("dmsetup", "suspend", t.dev)
        seconds, base = time_message(t.pool, "rollback", "1", str(snap))
        run("dmsetup", "resume", t.dev)
        record(suite="e", operation="rollback", mapped_blocks=mapped_mib * 256,
               changed_blocks=mapped_mib * 256 // 8, seconds=seconds,
               message_baseline_seconds=base, repeat=rep)
        t.destroy()
        backing.reset()


def snapctl(*args, as_json=False):
    env = dict(os.environ, SNAPCTL_CONFIG_DIR="/tmp/bench-pools")
    out = run(SNAPCTL, *(["--json"] if as_json else []), *args, env=env)
    return json.loads(out) if as_json else out


def suite_f(backing):
    """Export throughput against a raw read; incremental exports; restore."""
    data_mib = 16 if QUICK else 64
    for rep in range(REPEATS):
        meta = backing.slice(16)
        data = backing.slice(data_mib * 6 + 64)
        zero(meta, 1)
        repo = f"file:///tmp/bench-exports-{rep}"
        run("rm", "-rf", "/tmp/bench-pools", repo[7:])
        snapctl("pool", "create", "bx", "--metadata", meta, "--data", data)
        snapctl("disk", "create", "bx", "d", "--size", f"{data_mib * 2}M")
        dev = "/dev/mapper/bx-d"
        t = Target(backing, "dm-row")
        t.dev = dev
        prefill(t, data_mib)
        snapctl("snapshot", "create", "bx", "d", "--name", "s0")
        view = snapctl("snapshot", "view", "bx", "d/s0").strip()
        seconds, _ = timed(run, "dd", f"if={view}", "of=/dev/null", "bs=1M",
                           f"count={data_mib}", "iflag=direct", "status=none")
        record(suite="f", operation="raw sequential read of the snapshot", mib=data_mib,
               seconds=seconds, mibs=data_mib / seconds, repeat=rep)
        snapctl("snapshot", "unview", "bx", "d/s0")
        seconds, out = timed(lambda: snapctl("export", "bx", "d/s0", repo, "--name", "s0",
                                             as_json=True))
        record(suite="f", operation="full export", mib=data_mib, seconds=seconds,
               mibs=data_mib / seconds, chunks=out["transfer"]["uploaded_chunks"], repeat=rep)
        base = "s0"
        for i, (pattern, fraction) in enumerate([("random 4k", 0.01), ("random 4k", 0.1),
                                                 ("contiguous", 0.01), ("contiguous", 0.1),
                                                 ("contiguous", 0.5)]):
            blocks = int(data_mib * 256 * fraction)
            if pattern == "contiguous":
                run("dd", "if=/dev/urandom", f"of={dev}", "bs=4096", f"count={blocks}",
                    f"seek={(i * 997) % (data_mib * 256 - blocks)}", "oflag=direct",
                    "status=none")
            else:
                write_delta_random(dev, blocks, data_mib * 256, i)
            name = f"s{i + 1}"
            snapctl("snapshot", "create", "bx", "d", "--name", name)
            seconds, out = timed(lambda: snapctl("export", "bx", f"d/{name}", repo, "--name",
                                                 name, "--base", base, as_json=True))
            record(suite="f", operation="incremental export", pattern=pattern,
                   changed_fraction=fraction, seconds=seconds,
                   read_chunks=out["read_chunks"], chunks=out["stored_chunks"], repeat=rep)
            base = name
        # The smallest incremental: one 4 KiB write in each of two chunk
        # slots far apart; timed against a process start.
        for block in (3, data_mib * 256 - 5):
            run("dd", "if=/dev/urandom", f"of={dev}", "bs=4096", "count=1", f"seek={block}",
                "oflag=direct", "status=none")
        snapctl("snapshot", "create", "bx", "d", "--name", "two")
        start, _ = timed(snapctl, "--version")
        seconds, out = timed(lambda: snapctl("export", "bx", "d/two", repo, "--name", "two",
                                             "--base", base, as_json=True))
        record(suite="f", operation="incremental export of two chunks", seconds=seconds,
               process_start=start, read_chunks=out["read_chunks"],
               chunks=out["stored_chunks"], repeat=rep)
        seconds, out = timed(lambda: snapctl("import", repo, "s0", "bx", "restored",
                                             as_json=True))
        record(suite="f", operation="restore", mib=data_mib, seconds=seconds,
               mibs=data_mib / seconds, repeat=rep)
        # What restore is measured against: the same bytes written by dd
        # into a new disk of the pool, first writes as a restore makes.
        snapctl("disk", "create", "bx", "raw", "--size", f"{data_mib * 2}M")
        source = random_file(data_mib)
        seconds, _ = timed(run, "dd", f"if={source}", "of=/dev/mapper/bx-raw", "bs=1M",
                           "oflag=direct", "conv=fsync", "status=none")
        record(suite="f", operation="raw sequential write to a new disk", mib=data_mib,
               seconds=seconds, mibs=data_mib / seconds, repeat=rep)
        snapctl("pool", "deactivate", "bx")
        run("rm", "-rf", repo[7:])
        backing.reset()


def random_file(mib):
    """A tmpfs file of MIB MiB of random bytes, made once: dd's source."""
    path = f"/tmp/bench-random-{mib}"
    if not os.path.exists(path):
        with open(path, "wb") as f:
            f.write(os.urandom(mib * MiB))
    return path


def write_delta_random(dev, blocks, span, seed):
    fd = os.open(dev, os.O_WRONLY)
    try:
        for i in range(blocks):
            os.pwrite(fd, os.urandom(4096), ((seed * 7919 + i * 104729) % span) * 4096)
        os.fsync(fd)
    finally:
        os.close(fd)


def randread_window(dev, offset_mib, mib, seconds):
    """4k random reads at qd4 over [offset, offset + mib) MiB of dev: IOPS."""
    job = ("[global]\nioengine=libaio\ndirect=1\nfilename=${TARGET}\n"
           f"offset={offset_mib}M\nsize={mib}M\ntime_based\nruntime={seconds}\n"
           "norandommap\nrandrepeat=0\n[r]\nrw=randread\nbs=4k\niodepth=4\n")
    with tempfile.NamedTemporaryFile("w", suffix=".fio", delete=False) as f:
        f.write(job)
    try:
        out = run("fio", "--output-format=json", f.name, env=dict(os.environ, TARGET=dev))
    finally:
        os.unlink(f.name)
    return json.loads(out[out.index("{"):])["jobs"][0]["read"]["iops"]


def hydration(dev):
    """The live disk's hydration from its status: (hydrated, origin blocks, state)."""
    words = run("dmsetup", "status", os.path.basename(dev)).split()[3:]
    done, total = (int(x) for x in words[11].split("/"))
    return done, total, words[12]


def wait_until(done, poll, limit, what):
    """Poll done() every poll seconds; a run that waits past limit fails."""
    deadline = time.perf_counter() + limit
    while not done():
        if time.perf_counter() > deadline:
            raise RuntimeError(f"not {what} after {limit} s")
        time.sleep(poll)


def suite_i(backing):
    """Instant import: first read, hydration and reads under it, against a plain import."""
    size_mib = 64 if QUICK else 1024
    block_mib = 4096 / MiB
    t0 = time.perf_counter()
    snapctl("--version")
    process_start = time.perf_counter() - t0
    for rep in range(REPEATS):
        backing.reload(3 * size_mib + 384)
        run("rm", "-rf", "/tmp/bench-pools", "/tmp/bench-instant")
        repo = "file:///tmp/bench-instant"
        # The export: a disk of incompressible data, in a pool of its own.
        meta, data = backing.slice(16), backing.slice(size_mib + 64)
        zero(meta, 1)
        snapctl("pool", "create", "src", "--metadata", meta, "--data", data)
        snapctl("disk", "create", "src", "d", "--size", f"{size_mib}M")
        t = Target(backing, "dm-row")
        t.dev = "/dev/mapper/src-d"
        prefill(t, size_mib)
        snapctl("snapshot", "create", "src", "d", "--name", "s0")
        snapctl("export", "src", "d/s0", repo, "--name", "s0")
        snapctl("pool", "deactivate", "src")

        # Room for both imports at once: the plain one's blocks are freed
        # when its disk goes, but a pool run to its last blocks measures
        # the allocator, not the import.
        meta, data = backing.slice(64), backing.slice(2 * size_mib + 128)
        zero(meta, 1)
        snapctl("pool", "create", "dst", "--metadata", meta, "--data", data)
        seconds, _ = timed(snapctl, "import", repo, "s0", "dst", "plain")
        record(suite="i", operation="plain import", mib=size_mib, seconds=seconds,
               mibs=size_mib / seconds, repeat=rep)
        snapctl("disk", "remove", "dst", "plain", "--yes")

        # Instant: from the command to the first 4 KiB read that succeeds.
        dev = "/dev/mapper/dst-inst"
        start = time.perf_counter()
        snapctl("import", "--instant", repo, "s0", "dst", "inst")
        while subprocess.run(["dd", f"if={dev}", "of=/dev/null", "bs=4k", "count=1",
                              "iflag=direct", "status=none"], capture_output=True).returncode:
            if time.perf_counter() - start > 60:
                raise RuntimeError(f"{dev}: no read succeeded within 60 s of the import")
            time.sleep(0.01)
        first_read = time.perf_counter() - start
        record(suite="i", operation="instant import: first read", seconds=first_read,
               process_start=process_start, repeat=rep)
        wait_until(lambda: hydration(dev)[2] == "done", 0.1, 600, f"{dev} hydrated")
        seconds = time.perf_counter() - start
        record(suite="i", operation="instant import: hydration", mib=size_mib,
               seconds=seconds, mibs=size_mib / seconds, repeat=rep)
        snapctl("disk", "hydrate", "dst", "inst", "--wait")
        snapctl("disk", "remove", "dst", "inst", "--yes")

        # Reads while a slower hydration runs: of blocks hydrated and not.
        rate = max(4, size_mib // 32)
        snapctl("import", "--instant", repo, "s0", "dst", "slow", "--rate", f"{rate}M")
        dev = "/dev/mapper/dst-slow"
        window = max(8, size_mib // 16)
        wait_until(lambda: hydration(dev)[0] * block_mib >= 2 * window, 0.2, 600,
                   f"{2 * window} MiB of {dev} hydrated")
        hydrated = randread_window(dev, 0, window, RUNTIME)
        unhydrated = randread_window(dev, size_mib - window, window, RUNTIME)
        done, total, state = hydration(dev)
        record(suite="i", operation="4k random reads during hydration", rate_mib=rate,
               hydrated_iops=hydrated, unhydrated_iops=unhydrated, state=state,
               hydrated_fraction=done / total, repeat=rep)
        snapctl("pool", "deactivate", "dst")
        run("rm", "-rf", "/tmp/bench-instant")
        backing.reset()


def suite_g(backing):
    """Module memory (the metadata figures come from suites a and c)."""
    t = Row(backing, REGION_MIB + 16)
    prefill(t)
    with open("/sys/module/dm_row/coresize") as f:
        core = int(f.read())
    bufio = 0
    path = "/sys/module/dm_bufio/parameters/current_allocated_bytes"
    if os.path.exists(path):
        with open(path) as f:
            bufio = int(f.read())
    record(suite="g", metric="module text and data bytes", value=core)
    record(suite="g", metric="dm-bufio cache bytes (all users) after a prefill",
           value=bufio)
    # The disk's mapping cache once every mapped block has been read (disk
    # status word 7 after the target name: cache bytes), per mapped GiB, and
    # what is left after reclaim runs every shrinker.
    run("dd", f"if={t.dev}", "of=/dev/null", "bs=1M", "iflag=direct",
        f"count={REGION_MIB}")
    name = os.path.basename(t.dev)
    cached = int(run("dmsetup", "status", name).split()[3 + 6])
    record(suite="g", metric="mapping cache bytes per mapped GiB (4 KiB blocks, all read)",
           value=round(cached * 1024 / REGION_MIB))
    with open("/proc/sys/vm/drop_caches", "w") as f:
        f.write("2\n")
    time.sleep(1)
    left = int(run("dmsetup", "status", name).split()[3 + 6])
    record(suite="g", metric="mapping cache bytes left after reclaim (drop_caches 2)",
           value=left)
    t.destroy()
    backing.reset()


def main():
    run("modprobe", "dm-thin-pool")
    run("modprobe", "dm-snapshot")
    run("insmod", os.environ["DMROW_KO"], check=False)
    backing = Backing(256 if QUICK else 1280)
    record(suite="info", kernel=os.uname().release, cpus=os.cpu_count(), repeats=REPEATS,
           runtime=RUNTIME, region_mib=REGION_MIB, snap_runtime=SNAP_RUNTIME,
           snap_region_mib=SNAP_REGION_MIB, quick=QUICK)
    for letter in SUITES:
        fn = globals()[f"suite_{letter}"]
        log(f"suite {letter}: {fn.__doc__.strip()}")
        start = time.time()
        fn(backing)
        backing.reset()
        log(f"suite {letter} took {time.time() - start:.0f} s")
    log("done")


if __name__ == "__main__":
    sys.exit(main())
