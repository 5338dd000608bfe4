"""Issue 21's targets ("Performance at the scale of an organisation"), each beside its baseline.

The baseline ("before") is what the code before issue 21 measured: bench/RESULTS.md of
2026-11-24 20:56 UTC, the figures the issue quotes. Ratios that compare two plans or
two apps are from one run, side by side, so other work on the machine weighs on both.
"""

import math
import statistics

from bench.report import Row, verdict

SIZE_RATIO_TARGET = 1.5  # status / health on the large plan, against the example plan
TAIL_P99_TARGET_MS = 250.0  # every command's answer p99, 16 senders, large plan
THROUGHPUT_TARGET = 0.3  # completed status per second at 16 senders / the bare app's acks, example plan
TICK_BEFORE_MS = 287.0  # the steady scheduler tick on the large plan, before

BEFORE = {
    "status in-process": "6.1 → 38.8 ms: 6.36x",
    "health in-process": "6.2 → 84.0 ms: 13.5x",
    "status HTTP": "14.3 → 42.5 ms: 2.97x",
    "health HTTP": "8.5 → 86.7 ms: 10.2x",
    "status tail": "505.8 ms",
    "health tail": "929.1 ms",
    "pause tail": "1167.0 ms",
    "resume tail": "1471.8 ms",
    "throughput": "77 /s vs 742 /s: 0.10x",
    "paging": "all 600 computed every time; Slack paged the drawing only",
    "tick": f"{TICK_BEFORE_MS:.0f} ms",
}


def _size_row(name: str, example: float, large: float, before: str) -> Row:
    ratio = large / example if example else math.nan
    return Row(
        f"{name} p50, large plan against the example plan (side by side)",
        f"{example:.1f} → {large:.1f} ms: {ratio:.2f}x",
        f"≤ {SIZE_RATIO_TARGET:g}x",
        verdict(ratio <= SIZE_RATIO_TARGET),
        before=before,
    )


def target_rows(small, large, http) -> list[Row]:
    """``small``/``large``: bench.run.Figures; ``http``: bench.http_bench.HttpFigures, or None."""
    rows = [
        _size_row(
            "`status` in-process",
            statistics.median(small.status_ms),
            statistics.median(large.status_ms),
            BEFORE["status in-process"],
        ),
        _size_row(
            "`health` in-process",
            statistics.median(small.health_ms),
            statistics.median(large.health_ms),
            BEFORE["health in-process"],
        ),
    ]
    shown, total = large.health_page
    rows.append(
        Row(
            "`health` for 600 agents: agents with their task and health in the first answer / in the summary",
            f"{shown} / {total}",
            "a summary and a page, the rest a click away",
            verdict(0 < shown < total and total == 600),
            before=BEFORE["paging"],
        )
    )
    if http is not None:
        rows += _http_rows(http)
    rows.append(
        Row(
            "the 600-agent standup burst: every answer acked within 3 s, shown in the prompt within 10 s of the last",
            "not measured here (needs the Slack answers of the 'Slack as it really is' issue)",
            "3 s / 10 s",
            "MISS",
        )
    )
    tick = statistics.median(large.tick_ms)
    rows.append(
        Row(
            "scheduler tick per plan on the large plan, steady p50",
            f"{tick:.0f} ms",
            "no slower than before",
            verdict(tick <= TICK_BEFORE_MS),
            before=BEFORE["tick"],
        )
    )
    return rows


def _http_rows(http) -> list[Row]:
    rows = []
    for step in ("status", "health"):
        example = http.get("orchestrate", "example", step, 1)
        large = http.get("orchestrate", "large", step, 1)
        if example and large:
            rows.append(
                _size_row(
                    f"HTTP `{step}` answer, 1 sender,",
                    example.p("answer", 50),
                    large.p("answer", 50),
                    BEFORE[f"{step} HTTP"],
                )
            )
    for step in ("status", "health", "pause", "resume"):
        phase = http.get("orchestrate", "large", step, http.concurrent_senders("large", step))
        if phase is None:
            rows.append(Row(f"HTTP `{step}`, large plan, 16 senders: answer p99", "not measured", result="MISS"))
            continue
        p99 = phase.p("answer", 99)
        rows.append(
            Row(
                f"HTTP `{step}`, large plan, {phase.senders} senders: answer p99",
                f"{p99:.1f} ms",
                f"< {TAIL_P99_TARGET_MS:g} ms",
                verdict(p99 < TAIL_P99_TARGET_MS and not phase.missing),
                before=BEFORE[f"{step} tail"],
            )
        )
    orch, bare = http.get("orchestrate", "example", "status", 16), http.get("bare", "example", "status", 16)
    if orch and bare:
        ratio = orch.throughput / bare.throughput
        rows.append(
            Row(
                "HTTP `status`, example plan, 16 senders: completed commands/s against the bare app's acks",
                f"{orch.throughput:.0f} /s vs {bare.throughput:.0f} /s: {ratio:.2f}x",
                f"≥ {THROUGHPUT_TARGET:g}x",
                verdict(ratio >= THROUGHPUT_TARGET),
                before=BEFORE["throughput"],
            )
        )
    return rows
