"""Process measurements from /proc (benchmark harness; no spec section).

CPU time is ``utime + stime`` of a process and of its live descendants (plus ``cutime + cstime``,
the CPU time of children it has already reaped). Memory is read from ``/proc/PID/smaps_rollup``:
RSS (resident pages, shared ones counted in full), PSS (shared pages divided among the processes
sharing them) and USS (pages only this process has: ``Private_Clean + Private_Dirty``), summed over
the process tree; the peak RSS comes from ``VmHWM`` in ``/proc/PID/status``.

Linux only; a process that vanishes while being read counts as zero.
"""

import ipaddress
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

PROC = Path("/proc")
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class StatFields:
    """The fields of ``/proc/PID/stat`` the benchmark uses (CPU times in clock ticks)."""

    pid: int
    ppid: int
    utime: int
    stime: int
    cutime: int
    cstime: int


@dataclass(frozen=True)
class MemorySample:
    """Memory of a process tree, in bytes."""

    rss: int
    pss: int
    uss: int
    peak_rss: int


def parse_stat(text: str) -> StatFields:
    """Parse one ``/proc/PID/stat`` line.

    The command name (field 2) is in parentheses and may itself hold spaces and parentheses, so
    the fields are counted from the last ``)``. Numbering as in proc(5): 4 ppid, 14 utime,
    15 stime, 16 cutime, 17 cstime.
    """
    open_paren = text.index("(")
    close_paren = text.rindex(")")
    pid = int(text[:open_paren].strip())
    rest = text[close_paren + 1 :].split()
    # rest[0] is field 3 (state), so field n is rest[n - 3].
    return StatFields(
        pid=pid,
        ppid=int(rest[4 - 3]),
        utime=int(rest[14 - 3]),
        stime=int(rest[15 - 3]),
        cutime=int(rest[16 - 3]),
        cstime=int(rest[17 - 3]),
    )


def parse_kb_fields(text: str) -> dict[str, int]:
    """``Key:   123 kB`` lines (smaps_rollup, status) as a mapping of key to bytes."""
    fields: dict[str, int] = {}
    for line in text.splitlines():
        key, sep, value = line.partition(":")
        parts = value.split()
        if not sep or len(parts) != 2 or parts[1] != "kB" or not parts[0].isdigit():
            continue
        fields[key.strip()] = int(parts[0]) * 1024
    return fields


def _read(path: Path) -> str | None:
    try:
        return path.read_text(encoding="ascii", errors="replace")
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None


def read_stat(pid: int) -> StatFields | None:
    text = _read(PROC / str(pid) / "stat")
    return None if text is None else parse_stat(text)


def descendants(pid: int) -> list[int]:
    """The live descendants of ``pid`` (children, grandchildren, ...), found by scanning /proc."""
    children: dict[int, list[int]] = {}
    for entry in PROC.iterdir():
        if not entry.name.isdigit():
            continue
        stat = read_stat(int(entry.name))
        if stat is not None:
            children.setdefault(stat.ppid, []).append(stat.pid)
    found: list[int] = []
    pending = [pid]
    while pending:
        for child in children.get(pending.pop(), []):
            found.append(child)
            pending.append(child)
    return found


def process_tree(pid: int) -> list[int]:
    return [pid, *descendants(pid)]


def cpu_seconds_of(pids: Iterable[int], reaped_children_of: int | None = None) -> float:
    """CPU seconds (user + system) used so far by ``pids``.

    ``reaped_children_of`` adds the CPU time of that process's children that have exited and been
    waited for (``cutime + cstime``), which no longer show up in /proc as processes.
    """
    ticks = 0
    for pid in pids:
        stat = read_stat(pid)
        if stat is None:
            continue
        ticks += stat.utime + stat.stime
        if pid == reaped_children_of:
            ticks += stat.cutime + stat.cstime
    return ticks / CLOCK_TICKS


def tree_cpu_seconds(pid: int) -> float:
    """CPU seconds used so far by ``pid``, its live descendants and its reaped children."""
    return cpu_seconds_of(process_tree(pid), reaped_children_of=pid)


def memory_of(pids: Iterable[int]) -> MemorySample:
    """RSS, PSS, USS and peak RSS summed over ``pids``."""
    rss = pss = uss = peak = 0
    for pid in pids:
        rollup = _read(PROC / str(pid) / "smaps_rollup")
        status = _read(PROC / str(pid) / "status")
        if rollup is None or status is None:
            continue
        fields = parse_kb_fields(rollup)
        rss += fields.get("Rss", 0)
        pss += fields.get("Pss", 0)
        uss += fields.get("Private_Clean", 0) + fields.get("Private_Dirty", 0)
        peak += parse_kb_fields(status).get("VmHWM", 0)
    return MemorySample(rss=rss, pss=pss, uss=uss, peak_rss=peak)


def tree_memory(pid: int) -> MemorySample:
    return memory_of(process_tree(pid))


# ---- sockets: the benchmark must stay on loopback ----------------------------------------------


def _decode_address(hex_address: str) -> tuple[ipaddress.IPv4Address | ipaddress.IPv6Address, int]:
    """An address of /proc/net/tcp{,6}: host bytes in 32-bit little-endian words, port in hex."""
    host_hex, _, port_hex = hex_address.partition(":")
    raw = bytes.fromhex(host_hex)
    host = b"".join(raw[i : i + 4][::-1] for i in range(0, len(raw), 4))
    address = ipaddress.ip_address(host)
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped, int(port_hex, 16)
    return address, int(port_hex, 16)


def parse_net_tcp(text: str) -> dict[int, tuple[str, str]]:
    """``/proc/net/tcp`` or ``tcp6``: socket inode -> (local, remote) as ``host:port``.

    Only sockets with a remote end (not listening ones) are kept.
    """
    sockets: dict[int, tuple[str, str]] = {}
    for line in text.splitlines()[1:]:
        parts = line.split()
        if len(parts) < 10:
            continue
        local, local_port = _decode_address(parts[1])
        remote, remote_port = _decode_address(parts[2])
        if remote.is_unspecified and remote_port == 0:
            continue
        sockets[int(parts[9])] = (f"{local}:{local_port}", f"{remote}:{remote_port}")
    return sockets


def _socket_inodes(pid: int) -> set[int]:
    inodes: set[int] = set()
    try:
        entries = list((PROC / str(pid) / "fd").iterdir())
    except (FileNotFoundError, PermissionError):
        return inodes
    for entry in entries:
        try:
            target = os.readlink(entry)
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(int(target[len("socket:[") : -1]))
    return inodes


def foreign_connections(pid: int) -> list[str]:
    """TCP connections of ``pid``'s process tree whose remote end is not a loopback address."""
    inodes: set[int] = set()
    for member in process_tree(pid):
        inodes |= _socket_inodes(member)
    found: list[str] = []
    for table in ("tcp", "tcp6"):
        text = _read(PROC / str(pid) / "net" / table)
        if text is None:
            continue
        for inode, (local, remote) in parse_net_tcp(text).items():
            host = remote.rpartition(":")[0]
            if inode in inodes and not ipaddress.ip_address(host).is_loopback:
                found.append(f"{local} -> {remote}")
    return found
