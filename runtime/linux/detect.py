"""Is this file a Linux program, and where is it: the check every ``bt run`` makes first.

Kept apart from :mod:`runtime.linux.boot` (which pulls in the channel, the devices and
the machine) so that ``bt run`` of a kernel decides without importing any of that.
"""

from __future__ import annotations

import os
import struct

from runtime.errors import GuestLoadError
from runtime.linux.hostfs import HostFs
from runtime.pc import multiboot

EM_386, ET_EXEC, ET_DYN, PT_INTERP = 3, 2, 3, 3


def is_linux_program(path: str) -> bool:
    """An ELF32 little-endian i386 executable or PIE without a multiboot header."""
    try:
        with open(path, "rb") as f:
            head = f.read(multiboot.HEADER_SEARCH_BYTES)
    except OSError:
        return False
    if len(head) < 52 or head[:4] != b"\x7fELF" or head[4] != 1 or head[5] != 1:
        return False
    e_type, e_machine = struct.unpack_from("<HH", head, 16)
    if e_machine != EM_386 or e_type not in (ET_EXEC, ET_DYN):
        return False
    try:
        return multiboot.find_header(head, path) is None
    except GuestLoadError:
        return False


def guest_program_path(path: str, fs: HostFs) -> tuple[str, str]:
    """(host path of the image, the path the guest kernel opens)."""
    if fs.root is None:
        return path, os.path.abspath(path)
    guest = path if path.startswith("/") else "/" + path
    return fs.host_path(guest), guest
