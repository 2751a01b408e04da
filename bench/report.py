"""Benchmark report: the machine, the versions, and every figure beside Synapse's with the ratio
(benchmark harness; no spec section).

``RESULTS.md`` keeps one section per database engine between marker comments, so that a run on
PostgreSQL replaces the PostgreSQL section and leaves the SQLite one as it was.
"""

import math
import os
import platform
import re
from dataclasses import dataclass, field
from pathlib import Path

from bench.scenarios import Figure

RESULTS_HEADER = """# Benchmark results: Myelin beside Synapse

Written by `make bench` (`bench/run.py`); `bench/README.md` says what each figure means and the
caveats. Both servers run one after the other on the same machine, the same database engine and
the same load; the ratio is Myelin's figure divided by Synapse's (the arrow says which way is
better).
"""

ENGINE_TITLES = {"sqlite": "SQLite", "postgres": "PostgreSQL"}


@dataclass
class ServerRun:
    """What one server scored."""

    name: str
    version: str
    figures: list[Figure] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def by_name(self) -> dict[str, Figure]:
        return {figure.name: figure for figure in self.figures}


@dataclass(frozen=True)
class Machine:
    cores: int
    cpu_model: str
    memory_gib: float
    python: str
    kernel: str


def machine() -> Machine:
    model = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8").splitlines():
            if line.startswith("model name"):
                model = line.partition(":")[2].strip()
                break
    except OSError:
        pass
    memory_kib = 0
    try:
        for line in Path("/proc/meminfo").read_text(encoding="utf-8").splitlines():
            if line.startswith("MemTotal:"):
                memory_kib = int(line.split()[1])
    except OSError:
        pass
    return Machine(
        cores=len(os.sched_getaffinity(0)),
        cpu_model=model,
        memory_gib=memory_kib / 1024 / 1024,
        python=platform.python_version(),
        kernel=f"{platform.system()} {platform.release()}",
    )


def format_value(value: float) -> str:
    if math.isnan(value):
        return "–"
    if math.isinf(value):
        return "∞"
    magnitude = abs(value)
    if magnitude >= 100:
        return f"{value:,.0f}"
    if magnitude >= 10:
        return f"{value:.1f}"
    if magnitude == 0:
        return "0"
    return f"{value:.2f}" if magnitude >= 0.1 else f"{value:.3g}"


def ratio(mine: float, theirs: float) -> float:
    """Myelin ÷ Synapse; NaN when it means nothing (a zero or missing divisor)."""
    if math.isnan(mine) or math.isnan(theirs) or theirs == 0 or math.isinf(theirs):
        return math.nan
    return mine / theirs


def comparison_rows(myelin: ServerRun, synapse: ServerRun) -> list[list[str]]:
    """One row per figure: name, unit, Myelin, Synapse, ratio, direction."""
    theirs = synapse.by_name()
    names = [figure.name for figure in myelin.figures]
    names += [name for name in theirs if name not in set(names)]
    mine = myelin.by_name()
    rows = []
    for name in names:
        a, b = mine.get(name), theirs.get(name)
        reference = a or b
        assert reference is not None
        a_value = a.value if a else math.nan
        b_value = b.value if b else math.nan
        r = ratio(a_value, b_value)
        rows.append(
            [
                name,
                reference.unit,
                format_value(a_value),
                format_value(b_value),
                "–" if math.isnan(r) else f"{r:.2f}",
                "↓" if reference.lower_is_better else "↑",
            ]
        )
    return rows


HEADERS = ["Figure", "Unit", "Myelin", "Synapse", "Myelin ÷ Synapse", "Better"]


def text_table(rows: list[list[str]]) -> str:
    widths = [max(len(row[i]) for row in [HEADERS, *rows]) for i in range(len(HEADERS))]
    lines = []
    for index, row in enumerate([HEADERS, *rows]):
        cells = [
            cell.ljust(width) if column < 2 else cell.rjust(width)
            for column, (cell, width) in enumerate(zip(row, widths, strict=True))
        ]
        lines.append("  ".join(cells).rstrip())
        if index == 0:
            lines.append("  ".join("-" * width for width in widths))
    return "\n".join(lines)


def markdown_table(rows: list[list[str]]) -> str:
    lines = [
        "| " + " | ".join(HEADERS) + " |",
        "| --- | --- | ---: | ---: | ---: | :---: |",
    ]
    lines += ["| " + " | ".join(cell.replace("|", "\\|") for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def engine_section(
    *,
    engine: str,
    when: str,
    host: Machine,
    myelin: ServerRun,
    synapse: ServerRun,
    settings: str,
) -> str:
    """The Markdown section of one run."""
    title = ENGINE_TITLES.get(engine, engine)
    lines = [
        f"## {title}",
        "",
        f"- Date: {when}",
        f"- Machine: {host.cores} cores, {host.cpu_model}, {host.memory_gib:.0f} GiB;"
        f" {host.kernel}; Python {host.python}",
        f"- Servers: {myelin.version}; {synapse.version}",
        f"- Load: {settings}",
        "",
        markdown_table(comparison_rows(myelin, synapse)),
    ]
    notes = [f"{run.name}: {note}" for run in (myelin, synapse) for note in run.notes]
    notes += [
        f"{run.name}, {figure.name}: {figure.note}"
        for run in (myelin, synapse)
        for figure in run.figures
        if figure.note
    ]
    if notes:
        lines += ["", "Notes:", ""] + [f"- {note}" for note in notes]
    return "\n".join(lines) + "\n"


def _markers(engine: str) -> tuple[str, str]:
    return f"<!-- bench:{engine}:begin -->", f"<!-- bench:{engine}:end -->"


def merge_results(existing: str, engine: str, section: str) -> str:
    """``existing`` RESULTS.md text with the section of ``engine`` replaced (or added)."""
    begin, end = _markers(engine)
    block = f"{begin}\n{section}{end}\n"
    if not existing.strip():
        existing = RESULTS_HEADER
    pattern = re.compile(re.escape(begin) + r".*?" + re.escape(end) + r"\n?", re.DOTALL)
    if pattern.search(existing):
        return pattern.sub(lambda _: block, existing, count=1)
    return existing.rstrip("\n") + "\n\n" + block
