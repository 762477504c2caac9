"""Which files some process on this machine has open for writing (Linux, through /proc).

``/proc/PID/fd/N`` links to the open file (``os.stat`` on it gives the file's device and
inode, even once renamed or deleted); ``/proc/PID/fdinfo/N`` holds its open flags
(``flags:``, octal).
Only processes this user may inspect are seen (the same user, or all of them as root):
the others are skipped, as are writers on other machines (network shares).
"""

from __future__ import annotations

import os
import stat

PROC = "/proc"
FileId = tuple[int, int]  # (st_dev, st_ino)


def available() -> bool:
    return os.path.isdir(os.path.join(PROC, "self", "fdinfo"))


def open_for_writing(files: set[FileId] | None = None) -> set[FileId] | None:
    """Those of ``files`` (default: all regular files) some process has open write-only or
    read-write; None without /proc. One stat per open descriptor; the flags are read only
    for descriptors on one of ``files``."""
    if not available():
        return None
    found: set[FileId] = set()
    for pid in os.listdir(PROC):
        if pid.isdigit():
            _add_writing(f"{PROC}/{pid}", files, found)
    return found


def _add_writing(process: str, files: set[FileId] | None, found: set[FileId]) -> None:
    try:
        fds = os.listdir(f"{process}/fd")
    except OSError:  # not ours to read, or the process has ended
        return
    for fd in fds:
        try:
            st = os.stat(f"{process}/fd/{fd}")  # the open file itself (a pipe, a socket, ...)
            ident = (st.st_dev, st.st_ino)
            wanted = ident in files if files is not None else stat.S_ISREG(st.st_mode)
            if wanted and ident not in found and _writable(f"{process}/fdinfo/{fd}"):
                found.add(ident)
        except OSError:  # closed meanwhile
            continue


def _writable(fdinfo: str) -> bool:
    with open(fdinfo, encoding="ascii") as handle:
        for line in handle:
            if line.startswith("flags:"):
                return (int(line.split()[1], 8) & os.O_ACCMODE) in (os.O_WRONLY, os.O_RDWR)
    return False
