"""Tests of bench.report: figures side by side, formatting and RESULTS.md sections."""

import math

from bench.report import (
    RESULTS_HEADER,
    ServerRun,
    comparison_rows,
    format_value,
    markdown_table,
    merge_results,
    ratio,
    text_table,
)
from bench.scenarios import Figure


def _runs() -> tuple[ServerRun, ServerRun]:
    myelin = ServerRun(
        "Myelin",
        "Myelin 0.1.0",
        [Figure("startup", 0.5, "s", True), Figure("throughput", 3000, "req/s", False)],
    )
    synapse = ServerRun(
        "Synapse",
        "Synapse 1.2",
        [
            Figure("throughput", 1000, "req/s", False),
            Figure("startup", 2.0, "s", True),
            Figure("only synapse", 1.0, "MiB", True),
        ],
    )
    return myelin, synapse


def test_rows_pair_figures_by_name() -> None:
    rows = comparison_rows(*_runs())
    assert rows == [
        ["startup", "s", "0.50", "2.00", "0.25", "↓"],
        ["throughput", "req/s", "3,000", "1,000", "3.00", "↑"],
        ["only synapse", "MiB", "–", "1.00", "–", "↓"],
    ]


def test_format_and_ratio() -> None:
    assert format_value(12345.6) == "12,346"
    assert format_value(42.25) == "42.2"
    assert format_value(0.0123) == "0.0123"
    assert format_value(0) == "0"
    assert format_value(math.nan) == "–"
    assert format_value(math.inf) == "∞"
    assert ratio(1, 4) == 0.25
    assert math.isnan(ratio(1, 0))
    assert math.isnan(ratio(math.nan, 1))


def test_tables_hold_every_row() -> None:
    rows = comparison_rows(*_runs())
    text = text_table(rows).splitlines()
    assert len(text) == 2 + len(rows)
    assert text[0].startswith("Figure")
    markdown = markdown_table(rows).splitlines()
    assert markdown[2] == "| startup | s | 0.50 | 2.00 | 0.25 | ↓ |"


def test_merge_replaces_only_its_engine() -> None:
    first = merge_results("", "sqlite", "## SQLite\nold\n")
    assert first.startswith(RESULTS_HEADER)
    both = merge_results(first, "postgres", "## PostgreSQL\npg\n")
    again = merge_results(both, "sqlite", "## SQLite\nnew\n")
    assert "old" not in again
    assert again.count("## SQLite") == 1
    assert "new" in again
    assert "pg" in again
    assert again.index("## SQLite") < again.index("## PostgreSQL")
