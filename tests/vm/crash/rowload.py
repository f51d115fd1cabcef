#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0
"""Concurrent logged workload and its crash check (tests/vm/crash/003).

  rowload.py run STATE CONFIG
      Run the workload described by the JSON file CONFIG on the pool's disks
      while they sit on a dm-log-writes device, and write what it did to
      the JSON file STATE.
  rowload.py burst STATE CONFIG
      Fill a disk, snapshot it, and write one block per region of it from
      several threads until the pool refuses writes with ENOSPC (see
      Burst, below); write what it did to STATE, as "run" does.
  rowload.py checker STATE LIST
      Check replayed states against the log listing LIST (replay-log
      --list), one per line of standard input: "GROUP ENTRY[,ENTRY...]
      NAME=PATH..." (the FLUSH/FUA entries of the state's group, its devices
      d<disk> and s<snapshot>).  Each is answered by what is wrong, a
      summary line, and "END 0" (as allowed) or "END 1".

Writers.  Each writer thread owns a range of blocks of one disk and does
numbered operations on it, one at a time: a write of one 4 KiB block, or a
discard of a few.  A written block names its disk, block, writer and
operation and carries the sha256 of the rest, which is random: whatever a
block reads back as, it is either zeroes or exactly one write, identified.
The writer works in batches.  Before a batch it puts a mark "W<w>:I<k>" in
the log (operations below k may be issued from here on); after the batch
it usually calls fsync (a flush) and then marks "W<w>:D<k>" (operations
below k are durable).  Some batches are left unflushed.

So at a FLUSH/FUA entry F of the log, for the block of a writer w:
  - a write can be there only if its issue mark is before F: a write
    issued after a mark completes after every entry logged before it;
  - the last operation below the newest "D" mark whose last FLUSH/FUA entry
    is at or before F must be there, or a later one: everything that made
    it durable was logged before that mark, and the log holds plain writes
    only just before a FLUSH entry;
so the block holds one of the operations on it from the last durable one
to the last issuable one, or zeroes when that range starts before the
first operation or contains a discard.

Other threads.  A reader per disk loops over the writers' blocks with
O_DIRECT reads while blocks are overwritten, discarded and freed by
snapshot deletes, and checks each block against what was acknowledged
before the read and issued by its end (a block freed and reused under the
read would name another block or write).  The main thread takes a snapshot
every N operations (writes in flight), reads every "view_every"th at once
through a view (checked the same way against the writers' state around the
snapshot, and recorded exactly), deletes old snapshots, and at one point
grows the data device (the dm-linear under the pool, then the pool's table)
while the writers go on.  Each of those is marked before ("S:req:n",
"X:req:id", "G:req") and after ("S:done:n:id", "X:done:id", "G:done").  A
snapshot must exist from the last FLUSH/FUA entry before its done mark
until its deletion is requested, may exist from its request on, and once
gone may not come back; whenever it exists it must read exactly as
recorded, or, if it was not read when taken, fit its window the first time
a replayed state has it and read the same in every later one.

Burst (tests/vm/crash/004).  One writer fills every region of disk 1 but
its last block, with large writes, and fsyncs; the main thread takes a
snapshot; then a writer per thread writes the last block of its regions
(every "writers"th), in batches each ended by fsync, until the pool
refuses one with ENOSPC.  A refused write is recorded as "failed": it was
never acknowledged and must never show.  The writer then fsyncs what was
acknowledged, marks it durable and stops.  The burst writers own their
blocks "step" apart, and come first in the list of writers, before the
fill writer, whose range holds theirs: a block belongs to the first writer
that owns it.  The snapshot's contents are known exactly (the fill).
"""

import errno
import fcntl
import hashlib
import json
import mmap
import os
import random
import struct
import subprocess
import sys
import threading
import time

BLOCK = 4096
HDR = 128
BLKDISCARD = 0x1277

# <linux/dm-ioctl.h>, as in tests/vm/dmrow-io.py
DM_IOCTL_STRUCT = struct.Struct("=3IIIIiIII Q128s129s7x")
DM_TARGET_MSG = (3 << 30) | (DM_IOCTL_STRUCT.size << 16) | (0xFD << 8) | 14
DM_BUFSIZE = 16 << 10
DM_DATA_OUT_FLAG = 1 << 16

_local = threading.local()


def dm_message(name, words):
    """A target message to dm device NAME; its reply.  Each thread has its
    own control file, so that a slow message (a snapshot commits) does not
    hold up another thread's marks."""
    if getattr(_local, "control", None) is None:
        _local.control = os.open("/dev/mapper/control", os.O_RDWR)
    start = DM_IOCTL_STRUCT.size
    text = " ".join(words).encode() + b"\0"
    buf = bytearray(DM_BUFSIZE)
    DM_IOCTL_STRUCT.pack_into(buf, 0, 4, 0, 0, DM_BUFSIZE, start, 0, 0, 0, 0, 0, 0,
                              name.encode(), b"")
    struct.pack_into("=Q", buf, start, 0)
    buf[start + 8:start + 8 + len(text)] = text
    fcntl.ioctl(_local.control, DM_TARGET_MSG, buf, True)
    fields = DM_IOCTL_STRUCT.unpack_from(buf, 0)
    if not fields[7] & DM_DATA_OUT_FLAG:
        return ""
    return bytes(buf[fields[4]:fields[3]]).split(b"\0", 1)[0].decode().strip()


def mark(text):
    dm_message("lw", ["mark", text])


def dmsetup(*args):
    r = subprocess.run(["dmsetup", *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       text=True)
    if r.returncode:
        raise RuntimeError("dmsetup %s: %s" % (" ".join(args), r.stderr.strip()))
    return r.stdout.strip()


def make_block(disk, block, writer, op):
    payload = os.urandom(BLOCK - HDR)
    head = b"dmrow-crash d=%d b=%d w=%d k=%d " % (disk, block, writer, op)
    head = head.ljust(HDR - 64, b".") + hashlib.sha256(payload).hexdigest().encode()
    return head + payload


ZERO = bytes(BLOCK)


def decode(buf, disk, block):
    """What a block holds: ("zero",), ("op", writer, op), or ("bad", why)."""
    if buf == ZERO:
        return ("zero",)
    head = bytes(buf[:HDR - 64])
    if not head.startswith(b"dmrow-crash "):
        return ("bad", "neither zeroes nor a written block")
    try:
        f = dict(w.split(b"=") for w in head[12:].rstrip(b".").split())
        d, b, w, k = int(f[b"d"]), int(f[b"b"]), int(f[b"w"]), int(f[b"k"])
    except (ValueError, KeyError):
        return ("bad", "a damaged header")
    if hashlib.sha256(buf[HDR:]).hexdigest().encode() != bytes(buf[HDR - 64:HDR]):
        return ("bad", "write %d of writer %d, damaged" % (k, w))
    if (d, b) != (disk, block):
        return ("bad", "write %d of writer %d, meant for disk %d block %d" % (k, w, d, b))
    return ("op", w, k)


def read_blocks(path, first, count, fd=None):
    own = fd is None
    if own:
        fd = os.open(path, os.O_RDONLY | os.O_DIRECT)
    buf = mmap.mmap(-1, count * BLOCK)
    try:
        n = os.preadv(fd, [buf], first * BLOCK)
        if n != count * BLOCK:
            raise OSError("short read of %s" % path)
        return [buf[i * BLOCK:(i + 1) * BLOCK] for i in range(count)]
    finally:
        buf.close()
        if own:
            os.close(fd)


def allowed(ops_on_block, discards, lo, hi):
    """The operations (and "zero") a block may show: its last operation below
    LO (or its initial zeroes) and every later one below HI."""
    base = None
    out = set()
    for k in ops_on_block:
        if k < lo:
            base = k
        elif k < hi:
            out.add(k)
    out.add(base if base is not None else "zero")
    if any(k in discards for k in out if k != "zero"):
        out.add("zero")
    return out


def token(dec):
    if dec[0] == "zero":
        return "zero"
    if dec[0] == "op":
        return "%d:%d" % (dec[1], dec[2])
    return "bad"


# ---------------------------------------------------------------------------
# The workload

def owns(first, count, step, block):
    """Whether a writer owning COUNT blocks from FIRST, STEP apart, owns BLOCK."""
    off = block - first
    return 0 <= off < count * step and off % step == 0


class Writer(threading.Thread):
    def __init__(self, w, cfg, disk, first, count, shared, step=1):
        super().__init__(name="writer%d" % w)
        self.w, self.cfg, self.disk, self.first, self.count = w, cfg, disk, first, count
        self.step = step
        self.shared = shared
        self.ops = []		# (kind, first block, count)
        self.hist = {b: [] for b in range(first, first + count * step, step)}
        self.issued = 0		# operations issued
        self.acked = 0		# operations completed
        self.last_acked = {}	# block -> last completed operation on it
        self.last_issued = {}	# block -> last issued operation on it
        self.error = None
        self.rng = random.Random(cfg["seed"] * 100 + w)

    def run(self):
        try:
            self.work()
        except Exception as e:  # noqa: BLE001 - reported by the main thread
            self.error = "%s: %r" % (self.name, e)
            self.shared["stop"] = True

    def work(self):
        cfg, rng = self.cfg, self.rng
        path = "/dev/mapper/pool-d%d" % self.disk
        fd = os.open(path, os.O_WRONLY | os.O_DIRECT)
        buf = mmap.mmap(-1, BLOCK)
        k = 0
        for batch in range(cfg["batches"]):
            if self.shared["stop"]:
                break
            n = cfg["batch"]
            mark("W%d:I%d" % (self.w, k + n))
            for _ in range(n):
                if rng.random() < cfg["discard_ratio"]:
                    run = rng.randint(1, 4)
                    b = self.first + rng.randrange(self.count - run + 1)
                    self.begin(k, "discard", b, run)
                    fcntl.ioctl(fd, BLKDISCARD, struct.pack("QQ", b * BLOCK, run * BLOCK))
                else:
                    b = self.first + rng.randrange(self.count)
                    self.begin(k, "write", b, 1)
                    buf.seek(0)
                    buf.write(make_block(self.disk, b, self.w, k))
                    if os.pwrite(fd, buf, b * BLOCK) != BLOCK:
                        raise OSError("short write")
                self.end(k)
                k += 1
                # No further than the next snapshot but one: the writers
                # keep going while a snapshot is taken, but wait for the main
                # thread (slower: it starts processes) to take them all.
                while self.shared["acked"] >= self.shared["limit"] and not self.shared["stop"]:
                    time.sleep(0.01)
            if batch == cfg["batches"] - 1 or rng.random() < cfg["fsync_ratio"]:
                # "skip_fsync" claims durability without it: the check must
                # then fail, which is how it is shown able to.
                if not cfg.get("skip_fsync"):
                    os.fsync(fd)
                mark("W%d:D%d" % (self.w, k))
        os.close(fd)
        buf.close()

    def begin(self, k, kind, b, run):
        self.ops.append((kind, b, run))
        for i in range(b, b + run):
            self.hist[i].append(k)
            self.last_issued[i] = k
        self.issued = k + 1

    def end(self, k):
        kind, b, run = self.ops[k]
        for i in range(b, b + run):
            self.last_acked[i] = k
        self.acked = k + 1
        self.shared["acked"] += 1


def owner_of(writers, disk, block):
    for wr in writers:
        if wr.disk == disk and owns(wr.first, wr.count, wr.step, block):
            return wr
    return None


def live_allowed(wr, block, acked_before, issued_after):
    """What a live read may show: acked_before/issued_after are the block's
    last completed operation before it and last issued one after it."""
    lo = acked_before + 1 if acked_before is not None else 0
    hi = issued_after + 1 if issued_after is not None else 0
    discards = {k for k, op in enumerate(wr.ops[:hi]) if op[0] == "discard"}
    return allowed(wr.hist[block][:], discards, lo, hi)


class Reader(threading.Thread):
    def __init__(self, cfg, disk, writers, shared):
        super().__init__(name="reader%d" % disk)
        self.cfg, self.disk, self.writers, self.shared = cfg, disk, writers, shared
        self.reads = 0
        self.error = None

    def run(self):
        try:
            self.work()
        except Exception as e:  # noqa: BLE001
            self.error = "%s: %r" % (self.name, e)
            self.shared["stop"] = True

    def work(self):
        mine = [wr for wr in self.writers if wr.disk == self.disk]
        lo_b = min(wr.first for wr in mine)
        hi_b = max(wr.first + wr.count for wr in mine)
        rng = random.Random(self.cfg["seed"])
        fd = os.open("/dev/mapper/pool-d%d" % self.disk, os.O_RDONLY | os.O_DIRECT)
        n = 16
        while not self.shared["stop"] and not self.shared["writers_done"]:
            first = lo_b + rng.randrange(hi_b - lo_b - n + 1)
            owners = [owner_of(mine, self.disk, b) for b in range(first, first + n)]
            before = [wr.last_acked.get(b) for wr, b in zip(owners, range(first, first + n))]
            blocks = read_blocks(None, first, n, fd)
            after = [wr.last_issued.get(b) for wr, b in zip(owners, range(first, first + n))]
            for i in range(n):
                b = first + i
                got = token(decode(blocks[i], self.disk, b))
                ok = live_allowed(owners[i], b, before[i], after[i])
                if got.split(":")[-1] not in {str(x) for x in ok}:
                    raise AssertionError("disk %d block %d read %s under load; allowed %s (%s)" %
                                         (self.disk, b, got, sorted(map(str, ok)),
                                          decode(blocks[i], self.disk, b)))
            self.reads += 1
        os.close(fd)


def read_snapshot(cfg, disk, sid, writers, before, after):
    """Read snapshot SID of DISK through a view; check it against the writers'
    state before and after it was taken; return its tokens."""
    name = "rl-view-%d" % sid
    dmsetup("create", "--noudevsync", "--readonly", name, "--table",
            "0 %d row /dev/mapper/pool %d %d" % (cfg["disk_blocks"] * 8, disk, sid))
    try:
        blocks = read_blocks("/dev/mapper/" + name, 0, cfg["disk_blocks"])
    finally:
        dmsetup("remove", "--noudevsync", name)
    toks = []
    for b, data in enumerate(blocks):
        dec = decode(data, disk, b)
        got = token(dec)
        wr = owner_of(writers, disk, b)
        ok = {"zero"} if wr is None else live_allowed(wr, b, before.get((disk, b)),
                                                       after.get((disk, b)))
        if got.split(":")[-1] not in {str(x) for x in ok}:
            raise AssertionError("snapshot %d of disk %d block %d holds %s; acknowledged or "
                                 "in flight around the snapshot: %s (%s)" %
                                 (sid, disk, b, got, sorted(map(str, ok)), dec))
        toks.append(got)
    return toks


def block_state(writers, attr):
    out = {}
    for wr in writers:
        # The writer thread adds blocks meanwhile: copy first (dict.copy()
        # runs under the interpreter lock, so it sees one state).
        for b, k in getattr(wr, attr).copy().items():
            out[(wr.disk, b)] = k
    return out


def cmd_run(state_path, cfg_path):
    with open(cfg_path) as f:
        cfg = json.load(f)
    shared = {"stop": False, "acked": 0, "writers_done": False,
              "limit": 2 * cfg["snap_every"]}
    writers = [Writer(w, cfg, *spec, shared) for w, spec in enumerate(cfg["writers"])]
    readers = [Reader(cfg, d, writers, shared) for d in cfg["read_disks"]]
    total = cfg["batches"] * cfg["batch"] * len(writers)
    snaps, deletes, live = [], [], {}
    grown = None
    log = lambda msg: print("rowload: " + msg, flush=True)  # noqa: E731

    for t in writers:
        t.start()
    for t in readers:
        t.start()
    try:
        next_snap = cfg["snap_every"]
        nsnap = 0
        while any(t.is_alive() for t in writers) and not shared["stop"]:
            if grown is None and shared["acked"] >= total * cfg["grow_at"]:
                log("growing the data device to %d sectors (%d operations done)" %
                    (cfg["data_sectors"], shared["acked"]))
                before = dmsetup("status", "pool")
                mark("G:req")
                dmsetup("reload", "--noudevsync", "lw-data", "--table",
                        "0 %d linear /dev/mapper/lw %d" % (cfg["data_sectors"],
                                                          cfg["meta_sectors"]))
                dmsetup("suspend", "--noudevsync", "lw-data")
                dmsetup("resume", "--noudevsync", "lw-data")
                dmsetup("reload", "--noudevsync", "pool", "--table",
                        "0 %d row-pool /dev/mapper/lw-meta /dev/mapper/lw-data 8 0" %
                        cfg["data_sectors"])
                dmsetup("suspend", "--noudevsync", "pool")
                dmsetup("resume", "--noudevsync", "pool")
                mark("G:done")
                grown = {"before": before, "after": dmsetup("status", "pool"),
                         "at": shared["acked"]}
                log("pool status before: %s; after: %s" % (before, grown["after"]))
                continue
            if shared["acked"] < next_snap:
                time.sleep(0.02)
                continue
            next_snap += cfg["snap_every"]
            shared["limit"] = next_snap + cfg["snap_every"]
            nsnap += 1
            disk = cfg["snap_disks"][nsnap % len(cfg["snap_disks"])]
            before = block_state(writers, "last_acked")
            mark("S:req:%d" % nsnap)
            sid = int(dm_message("pool", ["snapshot", str(disk)]))
            mark("S:done:%d:%d" % (nsnap, sid))
            after = block_state(writers, "last_issued")
            # Some are read at once (a view costs two process starts); the
            # others are checked against their window in the first replayed
            # state that has them, and must read the same in every other.
            toks = None
            if nsnap % cfg["view_every"] == 1:
                toks = read_snapshot(cfg, disk, sid, writers, before, after)
            snaps.append({"n": nsnap, "disk": disk, "id": sid, "tokens": toks,
                          "at": shared["acked"],
                          "before": {str(b): k for (d, b), k in before.items() if d == disk},
                          "after": {str(b): k for (d, b), k in after.items() if d == disk}})
            live.setdefault(disk, []).append(sid)
            log("snapshot %d of disk %d after %d operations" % (sid, disk, shared["acked"]))
            if len(live[disk]) > cfg["keep"]:
                # Alternately the oldest and one in the middle of the chain.
                victim = live[disk].pop(0 if nsnap % 2 else len(live[disk]) // 2)
                mark("X:req:%d" % victim)
                dm_message("pool", ["delete_snapshot", str(victim)])
                mark("X:done:%d" % victim)
                deletes.append(victim)
                log("deleted snapshot %d" % victim)
    finally:
        # Normally the writers are done; after an error, stop them.
        shared["writers_done"] = shared["stop"] = True
        for t in writers:
            t.join()
        for t in readers:
            t.join()
    errors = [t.error for t in writers + readers if t.error]
    if errors:
        for e in errors:
            print(e)
        return 1
    if grown is None:
        print("the data device was never grown")
        return 1
    log("%d operations, %d snapshots, %d deleted, %d reads under load" %
        (sum(t.acked for t in writers), len(snaps), len(deletes),
         sum(t.reads for t in readers)))
    if not all(t.reads for t in readers):
        print("a reader read nothing")
        return 1
    state = {
        "cfg": cfg,
        "writers": [{"disk": t.disk, "first": t.first, "count": t.count, "ops": t.ops}
                    for t in writers],
        "snapshots": snaps,
        "deleted": deletes,
        "grown": grown,
    }
    with open(state_path, "w") as f:
        json.dump(state, f)
    return 0


# ---------------------------------------------------------------------------
# The burst that runs the metadata down to its reserve

class Burster(Writer):
    """A burst writer: its blocks in order, in batches each ended by fsync,
    until the pool refuses a write with ENOSPC; what was acknowledged is
    then fsynced and marked durable, and the writer stops."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.refused = None	# the operation refused with ENOSPC

    def work(self):
        fd = os.open("/dev/mapper/pool-d%d" % self.disk, os.O_WRONLY | os.O_DIRECT)
        buf = mmap.mmap(-1, BLOCK)
        k = 0
        try:
            while k < self.count and self.refused is None and not self.shared["stop"]:
                n = min(self.cfg["batch"], self.count - k)
                mark("W%d:I%d" % (self.w, k + n))
                for _ in range(n):
                    b = self.first + k * self.step
                    self.begin(k, "write", b, 1)
                    buf.seek(0)
                    buf.write(make_block(self.disk, b, self.w, k))
                    try:
                        if os.pwrite(fd, buf, b * BLOCK) != BLOCK:
                            raise OSError("short write")
                    except OSError as e:
                        if e.errno != errno.ENOSPC:
                            raise
                        self.refuse(k, b)
                        break
                    self.end(k)
                    k += 1
                os.fsync(fd)
                mark("W%d:D%d" % (self.w, k))
        finally:
            os.close(fd)
            buf.close()

    def refuse(self, k, b):
        self.ops[k] = ("failed", b, 1)
        self.hist[b].remove(k)
        self.last_issued.pop(b, None)
        self.refused = k


def cmd_burst(state_path, cfg_path):
    with open(cfg_path) as f:
        cfg = json.load(f)
    cfg.setdefault("seed", 0)	# the writers' choices are not random here
    disk, region, regions, nw = cfg["disk"], cfg["region"], cfg["regions"], cfg["writers"]
    shared = {"stop": False, "acked": 0, "writers_done": False, "limit": float("inf")}
    log = lambda msg: print("rowload: " + msg, flush=True)  # noqa: E731

    # The burst writers own the last block of every nw-th region; the fill
    # writer, after them, the rest.
    bursters = [Burster(w, cfg, disk, w * region + region - 1, len(range(w, regions, nw)),
                        shared, step=nw * region) for w in range(nw)]
    filler = Writer(nw, cfg, disk, 0, regions * region, shared)

    # The fill: made first (so that it is written in few commit periods),
    # then one write per region and one fsync.
    nops = regions * (region - 1)
    blocks = [b for b in range(regions * region) if b % region != region - 1]
    data = mmap.mmap(-1, nops * BLOCK)
    for k, b in enumerate(blocks):
        data.write(make_block(disk, b, nw, k))
    fd = os.open("/dev/mapper/pool-d%d" % disk, os.O_WRONLY | os.O_DIRECT)
    mark("W%d:I%d" % (nw, nops))
    for k, b in enumerate(blocks):
        filler.begin(k, "write", b, 1)
    run = (region - 1) * BLOCK
    with memoryview(data) as view:
        for r in range(regions):
            if os.pwrite(fd, view[r * run:(r + 1) * run], r * region * BLOCK) != run:
                raise OSError("short write")
    for k in range(nops):
        filler.end(k)
    os.fsync(fd)
    mark("W%d:D%d" % (nw, nops))
    os.close(fd)
    data.close()
    log("filled %d blocks; pool: %s" % (nops, dmsetup("status", "pool")))

    # The snapshot shares every leaf: it holds the fill, zeroes elsewhere.
    mark("S:req:1")
    sid = int(dm_message("pool", ["snapshot", str(disk)]))
    mark("S:done:1:%d" % sid)
    toks = ["%d:%d" % (nw, filler.last_acked[b]) if b in filler.last_acked else "zero"
            for b in range(cfg["disk_blocks"])]
    snaps = [{"n": 1, "disk": disk, "id": sid, "tokens": toks, "at": nops,
              "before": {}, "after": {}}]
    log("snapshot %d of disk %d" % (sid, disk))

    for t in bursters:
        t.start()
    for t in bursters:
        t.join()
    errors = [t.error for t in bursters if t.error]
    for e in errors:
        print(e)
    acked = sum(t.acked for t in bursters)
    refused = sum(t.refused is not None for t in bursters)
    log("burst: %d writes acknowledged, %d writers refused with ENOSPC; pool: %s" %
        (acked, refused, dmsetup("status", "pool")))
    state = {
        "cfg": cfg,
        "writers": [{"disk": t.disk, "first": t.first, "count": t.count, "step": t.step,
                     "ops": t.ops} for t in bursters + [filler]],
        "snapshots": snaps,
        "deleted": [],
        "acked": acked,
        "refused": refused,
    }
    with open(state_path, "w") as f:
        json.dump(state, f)
    return 1 if errors else 0


# ---------------------------------------------------------------------------
# The check of one replayed state

class Checker:
    def __init__(self, state_path, list_path):
        with open(state_path) as f:
            self.st = json.load(f)
        flags, marks = [], []
        with open(list_path) as f:
            for line in f:
                if line.startswith("#"):
                    continue
                w = line.split()
                flags.append(w[1])
                marks.append(w[4] if len(w) > 4 else "")
        flushes = {n for n, fl in enumerate(flags) if "FLUSH" in fl or "FUA" in fl}
        self.view = walk(flags, marks, flushes, len(self.st["writers"]))
        self.snaps = {s["id"]: s for s in self.st["snapshots"]}
        self.seen = {}		# snapshot id -> tokens, from the live read or a replay
        self.decoded = {}	# device name -> {block: (bytes, token)}
        self.owner = {}		# (disk, block) -> writer index or None
        self.live = {}		# (disk, block, durable, issued) -> expected_live()

    def tokens(self, name, path, disk, nblocks):
        """The tokens of a device's blocks.  A block that reads as it did in
        an earlier state is not decoded again: decode() depends only on the
        bytes, the disk and the block, and its sha256 is most of a check's
        time when most blocks stay the same from state to state."""
        cache = self.decoded.setdefault(name, {})
        out = []
        for i, b in enumerate(read_blocks(path, 0, nblocks)):
            hit = cache.get(i)
            if hit is None or hit[0] != b:
                hit = cache[i] = (b, token(decode(b, disk, i)))
            out.append(hit[1])
        return out

    def live_ok(self, disk, block, durable, issued):
        """expected_live(), remembered for the writer's marks it depends on."""
        w = self.owner.get((disk, block), False)
        if w is False:
            w = self.owner[(disk, block)] = writer_of(self.st, disk, block)[0]
        if w is None:
            return {"zero"}
        key = (disk, block, durable[w], issued[w])
        ok = self.live.get(key)
        if ok is None:
            ok = self.live[key] = expected_live(self.st, disk, block, durable, issued)
        return ok

    def check(self, group, entries, devs):
        st, errors = self.st, []
        nblocks = st["cfg"]["disk_blocks"]
        for name, path in devs:
            if name[0] == "d":
                disk = int(name[1:])
                if disk not in {w["disk"] for w in st["writers"]}:
                    errors.append("%s: a disk the workload never made" % name)
                    continue
                toks = self.tokens(name, path, disk, nblocks)
                shorts = [short(t) for t in toks]
                for e in entries:
                    v = self.view[e]
                    for b, t in enumerate(toks):
                        ok = self.live_ok(disk, b, v["durable"], v["issued"])
                        if shorts[b] not in ok:
                            errors.append("entry %d: disk %d block %d holds %s; allowed: %s" %
                                          (e, disk, b, t, sorted(ok)))
                            break
                continue
            sid = int(name[1:])
            s = self.snaps.get(sid)
            if s is None:
                errors.append("%s: a snapshot the workload never made" % name)
                continue
            for e in entries:
                if s["n"] not in self.view[e]["req"]:
                    errors.append("entry %d: snapshot %d exists before it was asked for" %
                                  (e, sid))
                if sid in self.view[e]["xdone"]:
                    errors.append("entry %d: snapshot %d exists after its deletion" % (e, sid))
            toks = self.tokens(name, path, s["disk"], nblocks)
            want = self.seen.get(sid) or s["tokens"]
            if want is None:
                # Its window: acknowledged before the message, issued by its end.
                for b, t in enumerate(toks):
                    ok = window(st, s["disk"], b, s["before"].get(str(b)),
                                s["after"].get(str(b)))
                    if short(t) not in ok:
                        errors.append("snapshot %d block %d holds %s; acknowledged or in "
                                      "flight around the snapshot: %s" % (sid, b, t, sorted(ok)))
                        break
                else:
                    self.seen[sid] = toks
                continue
            for b, (t, x) in enumerate(zip(toks, want)):
                if t != x:
                    errors.append("snapshot %d block %d holds %s, it held %s %s" %
                                  (sid, b, t, x, "when taken" if s["tokens"] else
                                   "in an earlier state"))
                    break
        present = {name for name, _ in devs}
        for e in entries:
            v = self.view[e]
            for w in st["writers"]:
                # Disks exist from the setup mark on.
                if v["setup"] and "d%d" % w["disk"] not in present:
                    errors.append("entry %d: disk %d is missing" % (e, w["disk"]))
            for sid in v["done"]:
                if sid not in v["xreq"] and "s%d" % sid not in present:
                    errors.append("entry %d: snapshot %d (made durable) is missing" % (e, sid))
        out = sorted(set(errors))
        out.append("entry %s: %s%s" % (group, " ".join(n for n, _ in devs) or "no disks",
                                       " WRONG" if errors else " as allowed"))
        return (1 if errors else 0), out


def short(t):
    """A token as allowed() names it: the operation number, or zero/bad."""
    return t.split(":")[-1]


def cmd_checker(state_path, list_path):
    """Answer "GROUP ENTRY,... NAME=PATH..." lines: the check's lines, then
    "END <0|1>"."""
    ck = Checker(state_path, list_path)
    for line in sys.stdin:
        w = line.split()
        if not w:
            continue
        try:
            rc, out = ck.check(w[0], [int(e) for e in w[1].split(",")],
                               [tuple(a.split("=", 1)) for a in w[2:]])
        except Exception as e:  # noqa: BLE001 - the test reports it
            rc, out = 1, ["checker: %r" % (e,)]
        for o in out:
            print(o)
        print("END %d" % rc, flush=True)
    return 0


def walk(flags, marks, want, nw):
    """For each FLUSH/FUA entry in WANT: what the marks say holds there.
    A mark's 'done' facts hold from the last FLUSH/FUA entry before it, its
    'issued' facts (requests) once it is before the entry."""
    # First pass: for each mark, the last FLUSH/FUA entry before it.
    prev_flush = -1
    at = {}			# flush entry -> marks whose last flush it is
    for n, fl in enumerate(flags):
        if fl == "MARK":
            at.setdefault(prev_flush, []).append(marks[n])
        elif "FLUSH" in fl or "FUA" in fl:
            prev_flush = n
    issued = [0] * nw
    durable = [0] * nw
    req, done, xreq, xdone = set(), set(), set(), set()
    setup = False
    view = {}

    def apply_done(m):
        nonlocal setup
        if m == "setup":
            setup = True
        elif m.startswith("W") and ":D" in m:
            w, k = m[1:].split(":D")
            durable[int(w)] = max(durable[int(w)], int(k))
        elif m.startswith("S:done:"):
            done.add(int(m.split(":")[3]))
        elif m.startswith("X:done:"):
            xdone.add(int(m.split(":")[2]))

    def apply_req(m):
        if m.startswith("W") and ":I" in m:
            w, k = m[1:].split(":I")
            issued[int(w)] = max(issued[int(w)], int(k))
        elif m.startswith("S:req:"):
            req.add(int(m.split(":")[2]))
        elif m.startswith("X:req:"):
            xreq.add(int(m.split(":")[2]))

    for m in at.get(-1, []):
        apply_done(m)
    for n, fl in enumerate(flags):
        if fl == "MARK":
            apply_req(marks[n])
            continue
        if "FLUSH" not in fl and "FUA" not in fl:
            continue
        for m in at.get(n, []):
            apply_done(m)
        if n in want:
            view[n] = {"issued": issued[:], "durable": durable[:], "req": set(req),
                       "done": set(done), "xreq": set(xreq), "xdone": set(xdone),
                       "setup": setup}
    return view


def writer_of(st, disk, block):
    for w, wr in enumerate(st["writers"]):
        if wr["disk"] == disk and owns(wr["first"], wr["count"], wr.get("step", 1), block):
            return w, wr
    return None, None


def ops_on(wr, block):
    """The operations on a block, and which of them are discards."""
    on = wr.get("on")
    if on is None:
        on = wr["on"] = {}
        for k, (kind, first, count) in enumerate(wr["ops"]):
            if kind == "failed":
                continue	# refused: never acknowledged, never there
            for b in range(first, first + count):
                on.setdefault(b, []).append(k)
    on_block = on.get(block, [])
    return on_block, {k for k in on_block if wr["ops"][k][0] == "discard"}


def expected_live(st, disk, block, durable, issued):
    w, wr = writer_of(st, disk, block)
    if wr is None:
        return {"zero"}
    on_block, discards = ops_on(wr, block)
    return {str(x) for x in allowed(on_block, discards, durable[w], issued[w])}


def window(st, disk, block, acked_before, issued_after):
    w, wr = writer_of(st, disk, block)
    if wr is None:
        return {"zero"}
    on_block, discards = ops_on(wr, block)
    lo = acked_before + 1 if acked_before is not None else 0
    hi = issued_after + 1 if issued_after is not None else 0
    return {str(x) for x in allowed(on_block, discards, lo, hi)}


def main(argv):
    if len(argv) == 4 and argv[1] == "run":
        return cmd_run(argv[2], argv[3])
    if len(argv) == 4 and argv[1] == "burst":
        return cmd_burst(argv[2], argv[3])
    if len(argv) == 4 and argv[1] == "checker":
        return cmd_checker(argv[2], argv[3])
    sys.stderr.write(__doc__)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
