"""The markdown report: the machine, the tables of medians with ratios, the targets of issue 5.

Every table shows the raw medians of each contender, the ratio of staticwrap
to WhiteNoise (both measured in this run), and the A/A ratio (staticwrap
(again) ÷ staticwrap): how far two identical contenders drift apart in this
run, the noise to read every other ratio against.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from .apps import BARE, NGINX, STATICWRAP, STATICWRAP_AGAIN, STATICWRAP_HASH_CACHE, WHITENOISE, Contender
from .results import Grid, Measured, Skipped
from .scenarios import BR_30K, HIT_1K, IN_PROCESS, LARGE_20M, MISS, NON_STATIC, NOT_MODIFIED, RANGE_20M, WIRE
from .servers import (
    BARE_ASGI,
    GRANIAN_ASGI,
    GRANIAN_WSGI,
    SERVESTATIC,
    STARLETTE,
    STATICWRAP_ASGI,
    UVICORN,
    UWSGI,
    WAITRESS,
)
from .servers import SCENARIOS as SERVER_SCENARIOS
from .startup import BUILT, SOURCE

Format = Callable[[float], str]


def fmt_us(value: float) -> str:
    return f"{value:.2f}" if value < 10 else f"{value:.1f}" if value < 100 else f"{value:,.0f}"


def fmt_rate(value: float) -> str:
    return f"{value:,.0f}" if value >= 100 else f"{value:.1f}"


def fmt_ms(value: float) -> str:
    return f"{value:.2f}" if value < 10 else f"{value:,.0f}"


def fmt_mb(value: float) -> str:
    return f"{value:.2f}" if value < 10 else f"{value:.1f}"


def fmt_ratio(value: float | None) -> str:
    return "—" if value is None else f"{value:.2f}×"


def ratio(numerator: float | None, denominator: float | None) -> float | None:
    if numerator is None or denominator is None or denominator == 0:
        return None
    return numerator / denominator


def markdown_table(headers: Sequence[str], rows: Sequence[Sequence[str]], left: int = 1) -> list[str]:
    """A markdown table with padded columns; the first ``left`` columns are left-aligned, the rest right."""
    widths = [max(len(str(row[i])) for row in [headers, *rows]) for i in range(len(headers))]
    widths = [max(width, 3) for width in widths]

    def line(cells: Sequence[str]) -> str:
        padded = [
            cell.ljust(w) if i < left else cell.rjust(w) for i, (cell, w) in enumerate(zip(cells, widths, strict=True))
        ]
        return "| " + " | ".join(padded) + " |"

    rule = ["-" * w if i < left else "-" * (w - 1) + ":" for i, w in enumerate(widths)]
    return [line(headers), "| " + " | ".join(rule) + " |", *(line(row) for row in rows)]


@dataclass
class Notes:
    """Footnotes collected while rendering: wrong responses, wrk errors, restarted workers."""

    lines: list[str] = field(default_factory=list)

    def add(self, text: str) -> None:
        if text not in self.lines:
            self.lines.append(text)


def cell(grid: Grid, row: str, contender: Contender, metric: str, fmt: Format, notes: Notes, where: str) -> str:
    outcome = grid.get(row, contender.key)
    if outcome is None:
        return "—"
    if isinstance(outcome, Skipped):
        if outcome.text.startswith("wrong"):
            notes.add(f"{where}, {row}, {contender.name}: {outcome.text}")
            return "wrong (see notes)"
        return outcome.text
    for note in outcome.notes:
        notes.add(f"{where}, {row}, {contender.name}: {note}")
    value = outcome.median(metric)
    return fmt(value) if value is not None else "no result"


def _present(contenders: Sequence[Contender], contender: Contender) -> bool:
    return any(c.key == contender.key for c in contenders)


def comparison_columns(grid: Grid, row: str, metric: str, contenders: Sequence[Contender]) -> tuple[str, str]:
    """(staticwrap ÷ WhiteNoise, A/A) for one row."""
    first = grid.median(row, STATICWRAP.key, metric)
    versus = fmt_ratio(ratio(first, grid.median(row, WHITENOISE.key, metric)))
    again = grid.median(row, STATICWRAP_AGAIN.key, metric) if _present(contenders, STATICWRAP_AGAIN) else None
    return versus, fmt_ratio(ratio(again, first))


def in_process_table(grid: Grid, contenders: Sequence[Contender], notes: Notes) -> list[str]:
    headers = ["scenario", *(c.name for c in contenders), "staticwrap ÷ WhiteNoise", "A/A"]
    rows = []
    for scenario in IN_PROCESS:
        values = [cell(grid, scenario.key, c, "us", fmt_us, notes, "in-process") for c in contenders]
        rows.append([scenario.title, *values, *comparison_columns(grid, scenario.key, "us", contenders)])
    return markdown_table(headers, rows)


def wire_tables(worker: str, grid: Grid, contenders: Sequence[Contender], notes: Notes) -> list[str]:
    where = f"Gunicorn {worker}"
    headers = ["scenario", "unit", *(c.name for c in contenders), "staticwrap ÷ WhiteNoise", "A/A"]
    throughput, cpu = [], []
    for scenario in [s for s in WIRE if any(grid.get(s.key, c.key) is not None for c in contenders)]:
        metric, unit = ("mbps", "MB/s") if scenario.bulk else ("rps", "req/s")
        values = [cell(grid, scenario.key, c, metric, fmt_rate, notes, where) for c in contenders]
        throughput.append([scenario.title, unit, *values, *comparison_columns(grid, scenario.key, metric, contenders)])
        values = [cell(grid, scenario.key, c, "cpu_us", fmt_us, notes, where) for c in contenders]
        cpu.append([scenario.title, "µs/req", *values, *comparison_columns(grid, scenario.key, "cpu_us", contenders)])
    return [
        f"#### {where}: throughput (higher is better)",
        "",
        *markdown_table(headers, throughput, left=2),
        "",
        f"#### {where}: server CPU time per request (lower is better)",
        "",
        *markdown_table(headers, cpu, left=2),
    ]


def startup_table(grid: Grid, contenders: Sequence[Contender], notes: Notes) -> list[str]:
    headers = ["tree", "contender", "time (ms)", "index memory (MB)", "peak (MB)", "URLs", "time ÷ WN", "memory ÷ WN"]
    rows = []
    for row, label in ((SOURCE, "source (no manifest)"), (BUILT, "built (staticwrap.json)")):
        for contender in contenders:
            outcome = grid.get(row, contender.key)
            urls = outcome.median("urls") if isinstance(outcome, Measured) else None
            no_index = isinstance(outcome, Measured) and urls is None
            time_ratio = memory_ratio = "—"
            if contender.key in (STATICWRAP.key, STATICWRAP_AGAIN.key, STATICWRAP_HASH_CACHE.key):
                time_ratio = fmt_ratio(
                    ratio(grid.median(row, contender.key, "ms"), grid.median(row, WHITENOISE.key, "ms"))
                )
                memory_ratio = fmt_ratio(
                    ratio(grid.median(row, contender.key, "index_mb"), grid.median(row, WHITENOISE.key, "index_mb"))
                )
            rows.append(
                [
                    label,
                    contender.name + (" (no index)" if no_index else ""),
                    cell(grid, row, contender, "ms", fmt_ms, notes, "startup"),
                    cell(grid, row, contender, "index_mb", fmt_mb, notes, "startup"),
                    cell(grid, row, contender, "peak_mb", fmt_mb, notes, "startup"),
                    "no index" if no_index else f"{urls:,.0f}" if urls is not None else "—",
                    time_ratio,
                    memory_ratio,
                ]
            )
    return markdown_table(headers, rows, left=2)


@dataclass(frozen=True)
class Target:
    """A goal of issue 5: the measured value, how it is shown, and whether it is met."""

    label: str
    goal: str
    value: float | None
    shown: str
    met: bool | None


def at_most(goal: float) -> Callable[[float], bool]:
    return lambda value: value <= goal


def at_least(goal: float) -> Callable[[float], bool]:
    return lambda value: value >= goal


def _ratio_target(
    label: str,
    goal: str,
    first: float | None,
    second: float | None,
    unit: str,
    test: Callable[[float], bool],
    fmt: Format = fmt_us,
) -> Target:
    value = ratio(first, second)
    if first is None or second is None or value is None:
        return Target(label, goal, None, "not measured", None)
    return Target(label, goal, value, f"{value:.2f}× ({fmt(first)} vs {fmt(second)} {unit})", test(value))


def targets(in_process: Grid | None, wire: dict[str, Grid], startup: Grid | None) -> list[Target]:
    found: list[Target] = []
    sw, wn, bare = STATICWRAP.key, WHITENOISE.key, BARE.key
    if in_process is not None:
        us = in_process.median
        for scenario, goal in ((HIT_1K, 0.25), (BR_30K, 0.25), (NOT_MODIFIED, 0.6)):
            found.append(
                _ratio_target(
                    f"in-process {scenario.title}: staticwrap ÷ WhiteNoise",
                    f"≤ {goal}×",
                    us(scenario.key, sw, "us"),
                    us(scenario.key, wn, "us"),
                    "µs",
                    at_most(goal),
                )
            )
        for scenario in (MISS, NON_STATIC):
            mine, floor = us(scenario.key, sw, "us"), us(scenario.key, bare, "us")
            label = f"in-process {scenario.title}: staticwrap − bare app"
            if mine is None or floor is None:
                found.append(Target(label, "≤ 0.2 µs", None, "not measured", None))
            else:
                overhead = mine - floor
                shown = f"{overhead:+.2f} µs ({fmt_us(mine)} vs {fmt_us(floor)} µs)"
                found.append(Target(label, "≤ 0.2 µs", overhead, shown, overhead <= 0.2))
    for worker, grid in wire.items():
        where = f"Gunicorn {worker}"
        found.append(
            _ratio_target(
                f"{where} 1 KiB file: server CPU/req, staticwrap ÷ bare app",
                "≤ 1.1×",
                grid.median(HIT_1K.key, sw, "cpu_us"),
                grid.median(HIT_1K.key, bare, "cpu_us"),
                "µs",
                at_most(1.1),
            )
        )
        found.append(
            _ratio_target(
                f"{where} 1 KiB file: req/s, staticwrap ÷ WhiteNoise",
                "≥ 1.3×",
                grid.median(HIT_1K.key, sw, "rps"),
                grid.median(HIT_1K.key, wn, "rps"),
                "req/s",
                at_least(1.3),
                fmt_rate,
            )
        )
        noise = _aa_noise(grid, LARGE_20M.key, "mbps")
        found.append(
            _ratio_target(
                f"{where} 20 MiB file: MB/s, staticwrap ÷ WhiteNoise",
                f"≥ 1.0× (parity: within the row's A/A noise, {noise:.0%})",
                grid.median(LARGE_20M.key, sw, "mbps"),
                grid.median(LARGE_20M.key, wn, "mbps"),
                "MB/s",
                at_least(1.0 - noise),
                fmt_rate,
            )
        )
        found.append(
            _ratio_target(
                f"{where} single range of the 20 MiB file: MB/s, staticwrap ÷ WhiteNoise",
                "≥ 2×",
                grid.median(RANGE_20M.key, sw, "mbps"),
                grid.median(RANGE_20M.key, wn, "mbps"),
                "MB/s",
                at_least(2.0),
                fmt_rate,
            )
        )
    if startup is not None:
        for row, label, goal in (
            (SOURCE, "startup, source tree (no manifest): time, staticwrap ÷ WhiteNoise", 1.0),
            (BUILT, "startup, built tree (with manifest): time, staticwrap ÷ WhiteNoise", 0.3),
        ):
            found.append(
                _ratio_target(
                    label,
                    f"≤ {goal}×",
                    startup.median(row, sw, "ms"),
                    startup.median(row, wn, "ms"),
                    "ms",
                    at_most(goal),
                    fmt_ms,
                )
            )
        found.append(
            _ratio_target(
                "startup, source tree, a restart with the hash cache: time, staticwrap ÷ WhiteNoise",
                "≤ 1.0×",
                startup.median(SOURCE, STATICWRAP_HASH_CACHE.key, "ms"),
                startup.median(SOURCE, wn, "ms"),
                "ms",
                at_most(1.0),
                fmt_ms,
            )
        )
        for row, tree in ((SOURCE, "source tree"), (BUILT, "built tree")):
            found.append(
                _ratio_target(
                    f"startup, {tree}: index memory, staticwrap ÷ WhiteNoise",
                    "≤ 0.5×",
                    startup.median(row, sw, "index_mb"),
                    startup.median(row, wn, "index_mb"),
                    "MB",
                    at_most(0.5),
                    fmt_mb,
                )
            )
    return found


def _aa_noise(grid: Grid, row: str, metric: str) -> float:
    """How far the A/A ratio of a row is from 1 (at least 2%)."""
    aa = ratio(grid.median(row, STATICWRAP_AGAIN.key, metric), grid.median(row, STATICWRAP.key, metric))
    return max(0.02, abs(1.0 - aa)) if aa is not None else 0.02


def servers_table(grid: Grid, contenders: Sequence[Contender], notes: Notes) -> list[str]:
    """One row per (server, application): throughput and server CPU per scenario, and the 1 KiB req/s ÷ nginx."""
    headers = ["server and application"]
    for scenario in SERVER_SCENARIOS:
        headers += [f"{scenario.title} ({'MB/s' if scenario.bulk else 'req/s'})", "CPU µs/req"]
    headers.append("1 KiB ÷ nginx")
    nginx = grid.median(HIT_1K.key, NGINX.key, "rps")
    rows = []
    for contender in contenders:
        row = [contender.name]
        for scenario in SERVER_SCENARIOS:
            metric = "mbps" if scenario.bulk else "rps"
            row.append(cell(grid, scenario.key, contender, metric, fmt_rate, notes, "other servers"))
            row.append(cell(grid, scenario.key, contender, "cpu_us", fmt_us, notes, "other servers"))
        row.append(fmt_ratio(ratio(grid.median(HIT_1K.key, contender.key, "rps"), nginx)))
        rows.append(row)
    return markdown_table(headers, rows)


def servers_aa(grid: Grid) -> str:
    """The A/A line of the servers section: the two staticwrap rows under Granian WSGI."""
    parts = []
    for scenario in SERVER_SCENARIOS:
        metric = "mbps" if scenario.bulk else "rps"
        again = grid.median(scenario.key, _pair(GRANIAN_WSGI.key, STATICWRAP_AGAIN.key), metric)
        first = grid.median(scenario.key, _pair(GRANIAN_WSGI.key, STATICWRAP.key), metric)
        parts.append(f"{scenario.title} {fmt_ratio(ratio(again, first))}")
    return "A/A (staticwrap (again) ÷ staticwrap, both under Granian WSGI): " + ", ".join(parts) + "."


def servers_floors(grid: Grid) -> str:
    """The 1 KiB row of staticwrap over the bare application's, under each Granian interface."""
    parts = []
    for server, name, mine, bare in (
        (GRANIAN_WSGI.key, "Granian WSGI", STATICWRAP.key, BARE.key),
        (GRANIAN_ASGI.key, "Granian ASGI", STATICWRAP_ASGI, BARE_ASGI),
    ):
        served = grid.median(HIT_1K.key, _pair(server, mine), "rps")
        floor = grid.median(HIT_1K.key, _pair(server, bare), "rps")
        parts.append(f"under {name} {fmt_ratio(ratio(served, floor))}")
    return (
        "1 KiB file, staticwrap ÷ the bare application answering the same request from memory under the same "
        "server (the most that interface gives): " + ", ".join(parts) + "."
    )


def _pair(server: str, app: str) -> str:
    return f"{server}/{app}"


def server_targets(grid: Grid) -> list[Target]:
    """The targets of issue 15, each a ratio of two rows of this run."""
    median = grid.median
    found = []
    nginx = median(HIT_1K.key, NGINX.key, "rps")
    for server, app, goal, label in (
        (GRANIAN_WSGI.key, STATICWRAP.key, 0.9, "staticwrap under Granian WSGI"),
        (GRANIAN_ASGI.key, STATICWRAP_ASGI, 0.8, "staticwrap ASGI under Granian ASGI"),
    ):
        found.append(
            _ratio_target(
                f"1 KiB file: req/s, {label} ÷ nginx",
                f"≥ {goal}×",
                median(HIT_1K.key, _pair(server, app), "rps"),
                nginx,
                "req/s",
                at_least(goal),
                fmt_rate,
            )
        )
    for peer, peer_name, goal in ((SERVESTATIC, "ServeStatic ASGI", 2.0), (STARLETTE, "Starlette", 3.0)):
        found.append(
            _ratio_target(
                f"1 KiB file under uvicorn: req/s, staticwrap ASGI ÷ {peer_name}",
                f"≥ {goal}×",
                median(HIT_1K.key, _pair(UVICORN.key, STATICWRAP_ASGI), "rps"),
                median(HIT_1K.key, _pair(UVICORN.key, peer), "rps"),
                "req/s",
                at_least(goal),
                fmt_rate,
            )
        )
    noise = max(
        _aa_noise_of(grid, scenario.key, _pair(GRANIAN_WSGI.key, STATICWRAP.key), "mbps")
        for scenario in (LARGE_20M, RANGE_20M)
    )
    for server, name, mine, peer, peer_name in (
        (GRANIAN_WSGI.key, "Granian WSGI", STATICWRAP.key, WHITENOISE.key, "WhiteNoise"),
        (UWSGI.key, "uWSGI", STATICWRAP.key, WHITENOISE.key, "WhiteNoise"),
        (WAITRESS.key, "Waitress", STATICWRAP.key, WHITENOISE.key, "WhiteNoise"),
        (UVICORN.key, "uvicorn", STATICWRAP_ASGI, SERVESTATIC, "ServeStatic"),
        (GRANIAN_ASGI.key, "Granian ASGI", STATICWRAP_ASGI, SERVESTATIC, "ServeStatic"),
    ):
        for scenario in (LARGE_20M, RANGE_20M):
            found.append(
                _ratio_target(
                    f"{scenario.title} under {name}: MB/s, staticwrap ÷ {peer_name}",
                    f"≥ 1.0× (within the A/A noise, {noise:.0%})",
                    median(scenario.key, _pair(server, mine), "mbps"),
                    median(scenario.key, _pair(server, peer), "mbps"),
                    "MB/s",
                    at_least(1.0 - noise),
                    fmt_rate,
                )
            )
    return found


def _aa_noise_of(grid: Grid, row: str, first: str, metric: str) -> float:
    """How far the Granian WSGI A/A ratio of a row is from 1 (at least 2%)."""
    again = first.rsplit("/", 1)[0] + "/" + STATICWRAP_AGAIN.key
    aa = ratio(grid.median(row, again, metric), grid.median(row, first, metric))
    return max(0.02, abs(1.0 - aa)) if aa is not None else 0.02


def targets_table(found: Sequence[Target]) -> list[str]:
    rows = [
        [target.label, target.goal, target.shown, "—" if target.met is None else "met" if target.met else "NOT MET"]
        for target in found
    ]
    return markdown_table(["target", "goal", "measured", "result"], rows, left=2)


@dataclass
class Report:
    """Everything one run measured, ready to render."""

    title: str
    machine: list[tuple[str, str]]
    settings: list[str]
    seconds: float = 0.0
    in_process: Grid | None = None
    in_process_contenders: Sequence[Contender] = ()
    wire: dict[str, Grid] = field(default_factory=dict)
    wire_contenders: Sequence[Contender] = ()
    wire_skipped: str | None = None
    startup: Grid | None = None
    startup_contenders: Sequence[Contender] = ()
    startup_info: list[str] = field(default_factory=list)
    servers: Grid | None = None
    servers_contenders: Sequence[Contender] = ()
    servers_info: list[str] = field(default_factory=list)

    def render(self) -> str:
        notes = Notes()
        out = [
            f"# {self.title}",
            "",
            *markdown_table(["machine", ""], [list(pair) for pair in self.machine], left=2),
            "",
        ]
        out += [f"Run time: {self.seconds:.0f} s.", "", *(f"- {line}" for line in self.settings), ""]
        if self.in_process is not None:
            out += ["## In-process: µs per request (median; lower is better)", ""]
            out += [*in_process_table(self.in_process, self.in_process_contenders, notes), ""]
        if self.wire or self.wire_skipped:
            out += ["## Under Gunicorn, loaded with wrk (median of the rounds)", ""]
        if self.wire_skipped:
            out += [f"Skipped: {self.wire_skipped}.", ""]
        for worker, grid in self.wire.items():
            out += [*wire_tables(worker, grid, self.wire_contenders, notes), ""]
        if self.servers is not None:
            out += ["## Other servers, loaded with wrk (median of the rounds)", ""]
            out += [*(f"- {line}" for line in self.servers_info), f"- {servers_aa(self.servers)}"]
            out += [f"- {servers_floors(self.servers)}", ""]
            out += [*servers_table(self.servers, self.servers_contenders, notes), ""]
        if self.startup is not None:
            out += ["## Startup: indexing the tree (median; each in a fresh interpreter)", ""]
            out += [*(f"- {line}" for line in self.startup_info), ""]
            out += [*startup_table(self.startup, self.startup_contenders, notes), ""]
        found = targets(self.in_process, self.wire, self.startup)
        met = sum(1 for target in found if target.met)
        out += [f"## Targets (issue 5): {met} of {len(found)} met", "", *targets_table(found), ""]
        if self.servers is not None:
            found = server_targets(self.servers)
            met = sum(1 for target in found if target.met)
            out += [f"## Targets (issue 15, other servers): {met} of {len(found)} met", "", *targets_table(found), ""]
        if notes.lines:
            out += ["## Notes", "", *(f"- {line}" for line in notes.lines), ""]
        return "\n".join(out)
