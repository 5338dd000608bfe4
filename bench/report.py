"""Rows of bench/RESULTS.md: each figure for orchestrate beside the bare baseline's, with the ratio."""

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class Row:
    figure: str
    measured: str  # orchestrate's figure
    target: str = "—"
    result: str = "info"  # PASS, MISS or info
    bare: str = "—"  # the same figure for the bare baseline, where there is one
    ratio: str = "—"  # orchestrate / bare
    before: str = "—"  # the figure before issue 21's changes (bench/targets.py), for its targets


def verdict(ok: bool) -> str:
    return "PASS" if ok else "MISS"


def ratio(a: float, b: float) -> str:
    if not b or math.isnan(a) or math.isnan(b):
        return "—"
    return f"{a / b:.2f}x"


def ms(value: float) -> str:
    return f"{value:.1f} ms"


def pair_ms(a: float, b: float) -> str:
    return f"{a:.1f} / {b:.1f} ms"


HEADER = ["| Figure | orchestrate | bare baseline | ratio | Target | Result |", "| --- | --- | --- | --- | --- | --- |"]


def table(rows: list[Row]) -> list[str]:
    return HEADER + [f"| {r.figure} | {r.measured} | {r.bare} | {r.ratio} | {r.target} | {r.result} |" for r in rows]


def targets_table(rows: list[Row]) -> list[str]:
    """Issue 21's targets: each figure beside its baseline, before the changes."""
    return ["| Figure | now | before | Target | Result |", "| --- | --- | --- | --- | --- |"] + [
        f"| {r.figure} | {r.measured} | {r.before} | {r.target} | {r.result} |" for r in rows
    ]


def print_rows(rows: list[Row]) -> None:
    width = max(len(r.figure) for r in rows)
    for r in rows:
        print(f"  {r.figure:<{width}}  {r.measured:>22}  {r.bare:>22}  {r.ratio:>6}  {r.target:<22} {r.result}")
