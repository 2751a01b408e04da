"""Tests of bench.measure: /proc parsing and live readings of this test process."""

import os
import subprocess
import sys
import time

from bench import measure

STAT = (
    "4242 (odd (name) x) S 17 4242 4242 0 -1 4194560 1000 0 0 0 250 75 12 3 20 0 4 0 9000"
    " 100000000 5000 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0"
)


def test_parse_stat_counts_fields_after_the_last_parenthesis() -> None:
    fields = measure.parse_stat(STAT)
    assert fields == measure.StatFields(pid=4242, ppid=17, utime=250, stime=75, cutime=12, cstime=3)


def test_parse_kb_fields() -> None:
    text = "Rss:                1688 kB\nPss:   259 kB\nName:\tpython\nVmHWM:\t 1756 kB\n"
    assert measure.parse_kb_fields(text) == {
        "Rss": 1688 * 1024,
        "Pss": 259 * 1024,
        "VmHWM": 1756 * 1024,
    }


def test_cpu_seconds_grow_with_work() -> None:
    before = measure.tree_cpu_seconds(os.getpid())
    deadline = time.process_time() + 0.3
    while time.process_time() < deadline:
        pass
    after = measure.tree_cpu_seconds(os.getpid())
    assert 0.2 <= after - before <= 1.0


def test_tree_includes_a_busy_child() -> None:
    child = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import time\nt = time.process_time() + 0.5\n"
            "while time.process_time() < t: pass\ntime.sleep(30)",
        ],
    )
    try:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if child.pid in measure.descendants(os.getpid()):
                stat = measure.read_stat(child.pid)
                assert stat is not None
                if (stat.utime + stat.stime) / measure.CLOCK_TICKS >= 0.4:
                    break
            time.sleep(0.05)
        own = measure.cpu_seconds_of([os.getpid()])
        assert measure.tree_cpu_seconds(os.getpid()) - own >= 0.4
    finally:
        child.kill()
        child.wait()


def test_memory_of_this_process() -> None:
    sample = measure.tree_memory(os.getpid())
    assert sample.rss > 1024 * 1024
    assert 0 < sample.uss <= sample.pss <= sample.rss <= sample.peak_rss
    assert measure.memory_of([2**22 + 12345]) == measure.MemorySample(0, 0, 0, 0)


NET_TCP = """\
  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 111 1
   1: 0100007F:C350 0100007F:1F90 01 00000000:00000000 00:00000000 00000000     0        0 222 1
   2: 0F02000A:C351 0100000A:01BB 01 00000000:00000000 00:00000000 00000000     0        0 333 1
"""

NET_TCP6 = """\
  sl  local_address                         remote_address                        st rest
   0: 00000000000000000000000001000000:C350 00000000000000000000000001000000:1F90 01 \
00000000:00000000 00:00000000 00000000     0        0 444 1
   1: 0000000000000000FFFF00000100007F:C351 0000000000000000FFFF00000200A8C0:0050 01 \
00000000:00000000 00:00000000 00000000     0        0 555 1
"""


def test_parse_net_tcp_decodes_addresses_and_skips_listeners() -> None:
    assert measure.parse_net_tcp(NET_TCP) == {
        222: ("127.0.0.1:50000", "127.0.0.1:8080"),
        333: ("10.0.2.15:50001", "10.0.0.1:443"),
    }
    assert measure.parse_net_tcp(NET_TCP6) == {
        444: ("::1:50000", "::1:8080"),
        555: ("127.0.0.1:50001", "192.168.0.2:80"),
    }


def test_no_foreign_connections_for_a_loopback_socket() -> None:
    import socket

    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        with socket.create_connection(server.getsockname()):
            assert measure.foreign_connections(os.getpid()) == []
