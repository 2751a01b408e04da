"""Tests of the federation benchmark's report: its RESULTS.md section and the runner's option."""

import json
from pathlib import Path

from bench.federation import FederationRun, federation_section, save_json, write_results
from bench.report import Machine, ServerRun
from bench.run import build_parser
from bench.scenarios import Figure

HOST = Machine(cores=2, cpu_model="Test CPU", memory_gib=8, python="3.11.7", kernel="Linux 6")


def _run() -> FederationRun:
    latency = "federation latency, send on it to seen on the peer p50"
    inbound = "inbound PDUs per server CPU second"
    return FederationRun(
        myelin=ServerRun(
            "Myelin",
            "Myelin 0.1.0",
            [
                Figure(latency, 50.0, "ms", True, "30 rounds, mean 52.0 ms"),
                Figure(inbound, 150.0, "PDU/s", False, "300 PDUs, 2.00 CPU s"),
            ],
        ),
        synapse=ServerRun(
            "Synapse",
            "Synapse 1.2.3",
            [
                Figure(latency, 100.0, "ms", True, "30 rounds, mean 101.0 ms"),
                Figure(inbound, 50.0, "PDU/s", False, "300 PDUs, 6.00 CPU s"),
            ],
        ),
        engine="sqlite",
        when="2026-01-01 00:00 UTC",
        rounds=30,
        messages=300,
        load_before=1.25,
        load_after=3.5,
    )


def test_section_has_ratios_versions_and_caveats() -> None:
    section = federation_section(_run(), HOST, "abc1234", note="another benchmark ran too")
    assert (
        "| federation latency, send on it to seen on the peer p50 | ms | 50.0 | 100 | 0.50 | ↓ |"
        in section
    )
    assert "| inbound PDUs per server CPU second | PDU/s | 150 | 50.0 | 3.00 | ↑ |" in section
    assert "## Federation (SQLite, peer Synapse on SQLite)" in section
    assert "Myelin 0.1.0 (commit abc1234); Synapse 1.2.3" in section
    assert "The peer is Synapse 1.2.3 on SQLite in both runs" in section
    assert "load average 1.2 before the run, 3.5 after" in section
    assert "2 cores shared" in section
    assert "- another benchmark ran too" in section
    assert "Myelin, inbound PDUs per server CPU second: 300 PDUs, 2.00 CPU s" in section


def test_write_results_replaces_only_the_federation_section(tmp_path: Path) -> None:
    results = tmp_path / "RESULTS.md"
    results.write_text(
        "# Results\n\n<!-- bench:sqlite:begin -->\nsqlite figures\n<!-- bench:sqlite:end -->\n",
        encoding="utf-8",
    )
    write_results(results, "sqlite", "first\n")
    write_results(results, "sqlite", "second\n")
    write_results(results, "postgres", "on postgres\n")
    text = results.read_text(encoding="utf-8")
    assert "sqlite figures" in text
    assert "<!-- bench:federation-postgres:begin -->\non postgres\n" in text
    assert "first" not in text
    assert text.count("<!-- bench:federation:begin -->\nsecond\n<!-- bench:federation:end -->") == 1


def test_runner_runs_federation_only_when_asked() -> None:
    assert build_parser().parse_args([]).with_federation is False
    args = build_parser().parse_args(["--with-federation", "--federation-rounds", "5"])
    assert args.with_federation is True
    assert args.federation_rounds == 5
    assert args.federation_messages == 300


def test_raw_figures_are_saved_per_engine(tmp_path: Path) -> None:
    save_json(tmp_path, _run())
    record = json.loads((tmp_path / "last-federation-sqlite.json").read_text(encoding="utf-8"))
    assert record["engine"] == "sqlite"
    assert record["load_average"] == [1.25, 3.5]
    assert record["Synapse"]["figures"][1]["value"] == 50.0
