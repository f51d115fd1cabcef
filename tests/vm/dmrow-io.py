#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0
"""I/O and device-mapper message driver for the VM tests (common.sh: dmrow_io).

Under emulation every process start costs a large fraction of a second, so a
test that interleaves hundreds of small writes and pool messages, or that
must write and take snapshots concurrently, does it from one process.
Standard library only: the guest runs the host's python3.

  dmrow-io.py batch
      Commands on stdin, one per line, each answered by one line on stdout
      (so that a shell can drive it through a pair of FIFOs: common.sh io);
      a failing command is answered "error: ..." and ends the batch, exit 1.
        model DEV SIZE        keep an in-memory image of DEV's first SIZE
                              bytes (zeroes at first), updated by 'write'
        write DEV OFF LEN [BS]
                              write LEN random bytes at OFF with O_DIRECT, in
                              writes of BS bytes (default: one): "ok"
        zero DEV OFF LEN      zeroes in the image of DEV (what a discard
                              leaves there): "ok"
        copy FROM TO          copy the image of FROM to TO (any names: to keep
                              a snapshot's image, or to restore it after a
                              rollback): "ok"
        sha DEV [OFF LEN]     sha256 of (a range of) the image of DEV
        read DEV OFF LEN [BS] sha256 of a range of DEV, read with O_DIRECT in
                              reads of BS bytes (default 1 MiB)
        msg DEV WORD...       send a target message (as 'dmsetup message DEV
                              0 WORD...'); the reply, lines joined by ';'
        try DEV WORD...       the same, but a refused message is an answer,
                              not an error: "ok REPLY" or "refused ERRNO"
                              (the errno's name, e.g. EINVAL)
        create NAME MINOR rw|ro START LEN TARGET ARG...
                              create dm device NAME (minor MINOR, or any
                              with "-"), load the one-target table and
                              resume it, as 'dmsetup create' would but with
                              no /dev/mapper node (devtmpfs makes
                              /dev/dm-MINOR): "ok MINOR", or "refused ERRNO"
                              with no device left behind
        remove NAME...        remove the dm devices that exist, in order,
                              retrying a busy one for 5 s: "ok", or
                              "refused ERRNO NAME"

  dmrow-io.py seqwrite DEV OFF NBLOCKS PROGRESS STOP [dsync|retry]
      Write 4 KiB blocks with O_DIRECT, one at a time, in a ring of NBLOCKS
      blocks at OFF: write number s goes to block s % NBLOCKS and holds a
      pattern naming s.  After each write completes, PROGRESS (replaced
      atomically) holds the number of completed writes.  Stops when the
      file STOP exists.  With dsync every write is O_DSYNC (FUA): durable
      once counted.  With retry a write refused with ENOSPC is tried again
      (every 0.2 s) until it succeeds, as an application waiting for space
      would; PROGRESS.refused then holds the number of refusals.

  dmrow-io.py seqcheck DEV:OFF:NBLOCKS:LO:HI...
      Check that a device holds exactly the first S writes of seqwrite's
      ring, for some LO <= S <= HI, and print S.  Exits 1 otherwise.
"""

import errno
import fcntl
import hashlib
import mmap
import os
import struct
import sys
import time

BLOCK = 4096

# <linux/dm-ioctl.h>
DM_IOCTL_STRUCT = struct.Struct("=3IIIIiIII Q128s129s7x")  # struct dm_ioctl, 312 bytes
DM_TARGET_MSG = (3 << 30) | (DM_IOCTL_STRUCT.size << 16) | (0xFD << 8) | 14
DM_DEV_CREATE, DM_DEV_REMOVE, DM_DEV_SUSPEND, DM_TABLE_LOAD = (
    (3 << 30) | (DM_IOCTL_STRUCT.size << 16) | (0xFD << 8) | nr for nr in (3, 4, 6, 9))
DM_TARGET_SPEC = struct.Struct("=QQiI16s")  # struct dm_target_spec, then its params
DM_READONLY_FLAG = 1 << 0
DM_PERSISTENT_DEV_FLAG = 1 << 3
DM_DATA_OUT_FLAG = 1 << 16
DM_BUFFER_FULL_FLAG = 1 << 8
DM_BUFSIZE = 256 << 10

_control = None


def dm_message(dev, words):
    """Send a target message to sector 0 of dm device DEV; return the reply."""
    global _control
    if _control is None:
        _control = os.open("/dev/mapper/control", os.O_RDWR)
    name = os.path.basename(dev).encode()
    start = DM_IOCTL_STRUCT.size
    text = " ".join(words).encode() + b"\0"
    buf = bytearray(DM_BUFSIZE)
    DM_IOCTL_STRUCT.pack_into(buf, 0, 4, 0, 0, DM_BUFSIZE, start, 0, 0, 0, 0, 0, 0,
                              name, b"")
    struct.pack_into("=Q", buf, start, 0)  # struct dm_target_msg: sector
    buf[start + 8:start + 8 + len(text)] = text
    fcntl.ioctl(_control, DM_TARGET_MSG, buf, True)
    fields = DM_IOCTL_STRUCT.unpack_from(buf, 0)
    flags = fields[7]
    if flags & DM_BUFFER_FULL_FLAG:
        raise OSError(errno.ENOBUFS, "message reply does not fit")
    if not flags & DM_DATA_OUT_FLAG:
        return ""
    out = bytes(buf[fields[4]:fields[3]])
    return out.split(b"\0", 1)[0].decode()


def dm_ioctl(cmd, name, flags=0, dev=0, payload=b"", target_count=0):
    """One device-mapper ioctl on device NAME; the returned header's fields."""
    global _control
    if _control is None:
        _control = os.open("/dev/mapper/control", os.O_RDWR)
    start = DM_IOCTL_STRUCT.size
    buf = bytearray(start + len(payload))
    DM_IOCTL_STRUCT.pack_into(buf, 0, 4, 0, 0, len(buf), start, target_count, 0, flags, 0, 0,
                              dev, name.encode(), b"")
    buf[start:] = payload
    fcntl.ioctl(_control, cmd, buf, True)
    return DM_IOCTL_STRUCT.unpack_from(buf, 0)


def dm_create(name, minor, mode, start, length, target, args):
    """Create, load and resume a one-target device; its minor."""
    params = " ".join(args).encode() + b"\0"
    params += bytes(-(DM_TARGET_SPEC.size + len(params)) % 8)
    spec = DM_TARGET_SPEC.pack(start, length, 0, DM_TARGET_SPEC.size + len(params),
                               target.encode()) + params
    flags, dev = 0, 0
    if minor is not None:
        # huge_encode_dev(): the major is the kernel's choice, the minor ours.
        flags, dev = DM_PERSISTENT_DEV_FLAG, (minor & 0xff) | ((minor & ~0xff) << 12)
    fields = dm_ioctl(DM_DEV_CREATE, name, flags, dev)
    try:
        dm_ioctl(DM_TABLE_LOAD, name, DM_READONLY_FLAG if mode == "ro" else 0,
                 payload=spec, target_count=1)
        dm_ioctl(DM_DEV_SUSPEND, name)	# without DM_SUSPEND_FLAG: resume
    except OSError:
        dm_remove(name)
        raise
    dev = fields[10]
    return (dev & 0xff) | ((dev >> 12) & 0xfff00)


def dm_remove(name):
    """Remove a device if it exists, retrying while it is busy."""
    for _ in range(50):
        try:
            dm_ioctl(DM_DEV_REMOVE, name)
            return
        except OSError as e:
            if e.errno == errno.ENXIO:
                return
            if e.errno != errno.EBUSY:
                raise
        time.sleep(0.1)
    dm_ioctl(DM_DEV_REMOVE, name)


def aligned(size):
    return mmap.mmap(-1, size)


def cmd_batch():
    models = {}

    def do(words):
        op = words[0]
        if op == "model":
            models[words[1]] = bytearray(int(words[2]))
            return "ok"
        if op == "write":
            dev, off, length = words[1], int(words[2]), int(words[3])
            bs = int(words[4]) if len(words) > 4 else length
            data = os.urandom(length)
            buf = aligned(length)
            buf.write(data)
            fd = os.open(dev, os.O_WRONLY | os.O_DIRECT)  # not kept: devices come and go
            try:
                with memoryview(buf) as view:
                    for at in range(0, length, bs):
                        n = os.pwrite(fd, view[at:min(at + bs, length)], off + at)
                        if n != min(bs, length - at):
                            raise OSError(errno.EIO, "short write")
            finally:
                os.close(fd)
                buf.close()
            if dev in models:
                models[dev][off:off + length] = data
            return "ok"
        if op == "zero":
            dev, off, length = words[1], int(words[2]), int(words[3])
            models[dev][off:off + length] = bytes(length)
            return "ok"
        if op == "copy":
            models[words[2]] = bytearray(models[words[1]])
            return "ok"
        if op == "sha":
            image = models[words[1]]
            if len(words) > 2:
                off, length = int(words[2]), int(words[3])
                image = image[off:off + length]
            return hashlib.sha256(image).hexdigest()
        if op == "read":
            dev, off, length = words[1], int(words[2]), int(words[3])
            bs = int(words[4]) if len(words) > 4 else 1 << 20
            fd = os.open(dev, os.O_RDONLY | os.O_DIRECT)
            buf = aligned(bs)
            h = hashlib.sha256()
            try:
                while length > 0:
                    n = os.preadv(fd, [memoryview(buf)[:min(length, bs)]], off)
                    if n <= 0:
                        raise OSError(errno.EIO, "short read")
                    h.update(buf[:n])
                    off += n
                    length -= n
            finally:
                os.close(fd)
                buf.close()
            return h.hexdigest()
        if op == "msg":
            return dm_message(words[1], words[2:]).strip().replace("\n", ";")
        if op == "try":
            try:
                reply = dm_message(words[1], words[2:]).strip().replace("\n", ";")
            except OSError as e:
                return "refused " + errno.errorcode.get(e.errno, str(e.errno))
            return ("ok " + reply).strip()
        if op == "create":
            minor = None if words[2] == "-" else int(words[2])
            try:
                minor = dm_create(words[1], minor, words[3], int(words[4]), int(words[5]),
                                  words[6], words[7:])
            except OSError as e:
                return "refused " + errno.errorcode.get(e.errno, str(e.errno))
            return "ok %d" % minor
        if op == "remove":
            for name in words[1:]:
                try:
                    dm_remove(name)
                except OSError as e:
                    return "refused %s %s" % (errno.errorcode.get(e.errno, str(e.errno)), name)
            return "ok"
        raise ValueError("unknown command " + op)

    for line in sys.stdin:
        words = line.split()
        if not words:
            continue
        try:
            print(do(words), flush=True)
        except (OSError, ValueError, IndexError, KeyError) as e:
            print("error: %s: %s" % (line.strip(), e), flush=True)
            return 1
    return 0


def pattern(seq):
    rec = b"dmrow-seq-%021d\n" % seq
    return rec * (BLOCK // len(rec))


def publish(path, value):
    """Replace the file PATH atomically with the number VALUE."""
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write("%d\n" % value)
    os.replace(tmp, path)


def cmd_seqwrite(dev, off, nblocks, progress, stop, mode=""):
    off, nblocks = int(off), int(nblocks)
    if mode not in ("", "dsync", "retry"):
        raise ValueError("seqwrite: unknown mode '%s'" % mode)
    fd = os.open(dev, os.O_WRONLY | os.O_DIRECT | (os.O_DSYNC if mode == "dsync" else 0))
    buf = aligned(BLOCK)
    seq = 0
    refused = 0
    while True:
        if (seq % 16 == 0 or refused) and os.path.exists(stop):
            break
        buf.seek(0)
        buf.write(pattern(seq))
        try:
            if os.pwrite(fd, buf, off + (seq % nblocks) * BLOCK) != BLOCK:
                raise OSError(errno.EIO, "short write")
        except OSError as e:
            if mode != "retry" or e.errno != errno.ENOSPC:
                raise
            refused += 1
            publish(progress + ".refused", refused)
            time.sleep(0.2)
            continue
        seq += 1
        publish(progress, seq)
    os.close(fd)
    return 0


def seqcheck_one(dev, off, nblocks, lo, hi):
    """The number of ring writes DEV holds, or an error string."""
    fd = os.open(dev, os.O_RDONLY | os.O_DIRECT)
    chunk = 256
    buf = aligned(chunk * BLOCK)
    zero = bytes(BLOCK)
    seqs = []
    for first in range(0, nblocks, chunk):
        n = min(chunk, nblocks - first)
        got = os.preadv(fd, [memoryview(buf)[:n * BLOCK]], off + first * BLOCK)
        if got != n * BLOCK:
            return "short read at block %d" % first
        for i in range(n):
            blk = buf[i * BLOCK:(i + 1) * BLOCK]
            j = first + i
            if blk == zero:
                seqs.append(None)
                continue
            try:
                s = int(blk[10:31])
            except ValueError:
                return "block %d holds neither zeroes nor a ring write" % j
            if blk != pattern(s) or s % nblocks != j:
                return "block %d holds a damaged or misplaced write (claims %d)" % (j, s)
            seqs.append(s)
    os.close(fd)
    written = [s for s in seqs if s is not None]
    total = max(written) + 1 if written else 0
    for j, s in enumerate(seqs):
        want = None if total <= j else j + ((total - 1 - j) // nblocks) * nblocks
        if s != want:
            return "block %d holds write %s, expected %s for a cut after %d writes" % (
                j, s, want, total)
    if not lo <= total <= hi:
        return "holds the first %d writes, outside the acknowledged window [%d, %d]" % (
            total, lo, hi)
    return total


def cmd_seqcheck(specs):
    rc = 0
    for spec in specs:
        dev, off, nblocks, lo, hi = spec.rsplit(":", 4)
        r = seqcheck_one(dev, int(off), int(nblocks), int(lo), int(hi))
        if isinstance(r, str):
            print("%s: %s" % (dev, r))
            rc = 1
        else:
            print("%s: ok, first %d writes (window %s..%s)" % (dev, r, lo, hi))
    return rc


def main(argv):
    if len(argv) >= 2 and argv[1] == "batch":
        return cmd_batch()
    if len(argv) in (7, 8) and argv[1] == "seqwrite":
        return cmd_seqwrite(*argv[2:])
    if len(argv) >= 3 and argv[1] == "seqcheck":
        return cmd_seqcheck(argv[2:])
    sys.stderr.write(__doc__)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
