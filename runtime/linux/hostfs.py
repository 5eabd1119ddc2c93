"""The program's view of the host file system: read-only, rooted at ``/`` or at ``--fs DIR``.

With the default root the program sees the host's files at their own paths,
as qemu-user passes them through; with ``--fs DIR`` the host directory DIR is
the program's ``/`` (a chroot: ``..`` and absolute symbolic links stay inside
it). Nothing is ever written: opening for writing, creating, truncating,
renaming or removing fails with EROFS, as on a read-only mount (Linux
``open(2)``: EROFS "pathname refers to a file on a read-only filesystem and
write access was requested"). Directory listings come from the host's own
``getdents64`` (the same records, in the same order, the host CPU's run sees).

Errors are Linux errno values: the host is Linux, so ``OSError.errno`` is
already one.
"""

from __future__ import annotations

import ctypes
import errno
import os
import stat
import struct

#: struct kstat of runtime/linux/kernel/kernel.h: what the guest kernel turns into stat64/statx
KSTAT = struct.Struct("<QQIIIIQQIIQqqqIIII")

O_ACCMODE, O_CREAT, O_EXCL, O_TRUNC = 0o3, 0o100, 0o200, 0o1000
O_DIRECTORY, O_NOFOLLOW = 0o200000, 0o400000
MAX_SYMLINKS = 40

_libc = ctypes.CDLL(None, use_errno=True)
_SYS_GETDENTS64 = 217  # x86-64 (the host)


class FsError(Exception):
    """An errno for the guest."""

    def __init__(self, code: int) -> None:
        super().__init__(errno.errorcode.get(code, str(code)))
        self.errno = code


def pack_stat(st: os.stat_result) -> bytes:
    return KSTAT.pack(st.st_dev, st.st_ino, st.st_mode, st.st_nlink, st.st_uid, st.st_gid,
                      st.st_rdev, st.st_size, st.st_blksize, 0, st.st_blocks,
                      int(st.st_atime), int(st.st_mtime), int(st.st_ctime),
                      st.st_atime_ns % 10**9, st.st_mtime_ns % 10**9, st.st_ctime_ns % 10**9, 0)


class _Dir:
    """A host directory being listed: the records read so far, and the guest's position."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.entries: list[bytes] = []
        self.pos = 0
        self.eof = False

    def fill(self) -> bool:
        """Read more records from the host; False at the end."""
        if self.eof:
            return False
        buf = ctypes.create_string_buffer(32768)
        n = _libc.syscall(_SYS_GETDENTS64, self.fd, buf, ctypes.c_uint(32768))
        if n < 0:
            raise FsError(ctypes.get_errno())
        if n == 0:
            self.eof = True
            return False
        raw, off = buf.raw[:n], 0
        while off < n:
            reclen = struct.unpack_from("<H", raw, off + 16)[0]
            self.entries.append(raw[off:off + reclen])
            off += reclen
        return True


class HostFs:
    """Guest paths to host paths, and the host files the guest kernel has open (handles)."""

    def __init__(self, root: str | None = None) -> None:
        self.root = os.path.realpath(root) if root else None
        self.handles: dict[int, int] = {}
        self.dirs: dict[int, _Dir] = {}
        self._next = 3

    # --- names ---------------------------------------------------------------------
    def host_path(self, path: str, follow: bool = True) -> str:
        """The host path of guest absolute ``path``. Under ``--fs`` every component is
        resolved inside the root (symbolic links included), raising FsError. With the
        host's own root, bt's own process is not part of the view (:meth:`_is_bt`)."""
        if self.root is None:
            if self._is_bt(path, follow):
                raise FsError(errno.ENOENT)
            return path
        return self._resolve(path, follow, 0)

    @staticmethod
    def _is_bt(path: str, follow: bool) -> bool:
        """Whether ``path`` names bt's own process in the host's /proc (``/proc/self``,
        ``/proc/thread-self``, ``/proc/PID`` of bt or one of its threads, or a link to one
        such as ``/dev/fd``): the program would read the monitor's memory map, command line
        and open files there. Its own ``/proc/self/exe`` and ``/proc/self/fd/N`` are the
        guest kernel's (kernel/file.c)."""
        if "proc" not in path and not path.startswith("/dev"):
            return False
        head, tail = os.path.split(path)
        real = os.path.realpath(path) if follow else os.path.join(os.path.realpath(head), tail)
        parts = real.split("/")
        if len(parts) < 3 or parts[1] != "proc" or not parts[2].isdigit():
            return False
        pid = int(parts[2])
        return pid == os.getpid() or os.path.exists(f"/proc/{os.getpid()}/task/{pid}")

    def _resolve(self, path: str, follow: bool, depth: int) -> str:
        parts = [p for p in path.split("/") if p and p != "."]
        done: list[str] = []
        for i, part in enumerate(parts):
            if part == "..":
                if done:
                    done.pop()
                continue
            here = os.path.join(self.root or "/", *done, part)
            last = i == len(parts) - 1
            if (not last or follow) and os.path.islink(here):
                if depth >= MAX_SYMLINKS:
                    raise FsError(errno.ELOOP)
                target = os.readlink(here)
                base = "/" if target.startswith("/") else "/" + "/".join(done)
                rest = "/".join(parts[i + 1:])
                real = self._resolve(os.path.join(base, target, rest), follow, depth + 1)
                return real
            done.append(part)
        return os.path.join(self.root or "/", *done)

    def guest_path(self, host: str) -> str:
        """The guest's name for host path ``host`` (inside the root)."""
        if self.root is None:
            return host
        rel = os.path.relpath(host, self.root)
        return "/" if rel == "." else "/" + rel

    def cwd(self) -> str:
        if self.root is None:
            return os.getcwd()
        return "/"

    def canonical_dir(self, path: str) -> str:
        """chdir: the canonical guest path of directory ``path``."""
        real = os.path.realpath(self.host_path(path))
        st = self._stat(real, True)
        if not stat.S_ISDIR(st.st_mode):
            raise FsError(errno.ENOTDIR)
        if not os.access(real, os.X_OK):
            raise FsError(errno.EACCES)
        return self.guest_path(real)

    # --- metadata -------------------------------------------------------------------
    @staticmethod
    def _stat(host: str, follow: bool) -> os.stat_result:
        try:
            return os.stat(host) if follow else os.lstat(host)
        except OSError as e:
            raise FsError(e.errno or errno.EIO) from None

    def stat(self, path: str, follow: bool) -> bytes:
        return pack_stat(self._stat(self.host_path(path, follow), follow))

    def fstat(self, handle: int) -> bytes:
        try:
            return pack_stat(os.fstat(self._fd(handle)))
        except OSError as e:
            raise FsError(e.errno or errno.EIO) from None

    def readlink(self, path: str) -> bytes:
        try:
            return os.fsencode(os.readlink(self.host_path(path, follow=False)))
        except OSError as e:
            raise FsError(e.errno or errno.EIO) from None

    def access(self, path: str, mode: int) -> None:
        host = self.host_path(path)
        self._stat(host, True)
        if mode & os.W_OK:
            raise FsError(errno.EROFS)
        if not os.access(host, mode):
            raise FsError(errno.EACCES)

    # --- open files -------------------------------------------------------------------
    def _fd(self, handle: int) -> int:
        fd = self.handles.get(handle)
        if fd is None:
            raise FsError(errno.EBADF)
        return fd

    def open(self, path: str, flags: int) -> tuple[int, bool]:
        """(handle, is a directory). Read only: write access or creation is EROFS."""
        host = self.host_path(path, follow=not flags & O_NOFOLLOW)
        exists = os.path.lexists(host)
        if flags & O_CREAT and flags & O_EXCL and exists:
            raise FsError(errno.EEXIST)
        if flags & O_ACCMODE or flags & O_TRUNC or (flags & O_CREAT and not exists):
            if not exists and not os.path.isdir(os.path.dirname(host) or "/"):
                raise FsError(errno.ENOENT)
            raise FsError(errno.EROFS)
        mode = os.O_RDONLY | os.O_CLOEXEC
        if flags & O_NOFOLLOW:
            mode |= os.O_NOFOLLOW
        if flags & O_DIRECTORY:
            mode |= os.O_DIRECTORY
        try:
            fd = os.open(host, mode)
        except OSError as e:
            raise FsError(e.errno or errno.EIO) from None
        handle = self._next
        self._next += 1
        self.handles[handle] = fd
        return handle, stat.S_ISDIR(os.fstat(fd).st_mode)

    def close(self, handle: int) -> None:
        self.dirs.pop(handle, None)
        fd = self.handles.pop(handle, None)
        if fd is not None:
            os.close(fd)

    def pread(self, handle: int, size: int, offset: int) -> bytes:
        try:
            return os.pread(self._fd(handle), size, offset)
        except OSError as e:
            raise FsError(e.errno or errno.EIO) from None

    def _dir(self, handle: int) -> _Dir:
        d = self.dirs.get(handle)
        if d is None:
            d = self.dirs[handle] = _Dir(self._fd(handle))
        return d

    def getdents64(self, handle: int, size: int) -> bytes:
        """linux_dirent64 records (same layout on i386 and x86-64) from the host kernel's own
        getdents64, in its order, with d_off the entry's ordinal: a 32-bit program on a
        64-bit Linux gets 32-bit directory offsets (ext4's hash cookies are cut for it),
        and glibc's readdir fails with EOVERFLOW on larger ones."""
        d = self._dir(handle)
        out = bytearray()
        while True:
            if d.pos >= len(d.entries) and not d.fill():
                break
            rec = d.entries[d.pos]
            if len(out) + len(rec) > size:
                if not out:
                    raise FsError(errno.EINVAL)
                break
            d.pos += 1
            out += rec[:8] + struct.pack("<q", d.pos) + rec[16:]
        return bytes(out)

    def seek(self, handle: int, offset: int, whence: int) -> int:
        d = self._dir(handle)
        if whence == os.SEEK_CUR:
            offset += d.pos
        elif whence != os.SEEK_SET or offset < 0:
            raise FsError(errno.EINVAL)
        d.pos = offset
        return offset

    def close_all(self) -> None:
        for handle in list(self.handles):
            self.close(handle)
