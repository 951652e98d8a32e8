"""The results as tables: one line per configuration, the peers, and the targets of issue 3."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

LABELS = {
    "memory/default": "default engine, in-memory storage",
    "sqlite/default": "default engine, SQLite + in-memory layer",
    "sqlite/evented": "evented engine (embedded worker), SQLite + in-memory layer",
    "postgres/default": "default engine, PostgreSQL + Redis",
    "postgres/evented": "evented engine, 2 worker processes, PostgreSQL + Redis",
}
PEER_LABELS = {
    "dbos-postgres": "DBOS Transact, PostgreSQL",
    "langgraph-none": "LangGraph, no checkpointer",
    "langgraph-sqlite": "LangGraph, SQLite checkpointer",
    "langgraph-postgres": "LangGraph, PostgreSQL checkpointer",
}
FLAT_MB = 5.0
Results = dict[str, Any]


def _get(results: Results, *keys: str) -> Any:
    value: Any = results
    for key in keys:
        if not isinstance(value, dict) or key not in value:
            return None
        value = value[key]
    return value


def _fmt(value: Any, digits: int = 0) -> str:
    if value is None:
        return "n/a"
    return f"{value:,.{digits}f}"


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return lines + ["| " + " | ".join(row) + " |" for row in rows]


def configuration_table(configs: dict[str, Results]) -> list[str]:
    header = [
        "configuration", "µs/step", "steps/s", "× plain loop", "foreach items/s", "200×5 runs/s",
        "p50 s", "p99 s", "loop step 10 µs", "last step µs", "last ÷ 10", "RSS peak MB",
        "RSS growth MB (runs / within)",
    ]  # fmt: skip
    rows = []
    for name, result in configs.items():
        seq, fe, conc, loop = (result.get(key, {}) for key in ("sequential", "foreach", "concurrent", "loop"))
        plain = _get(seq, "plain_loop_us_per_step")
        times_plain = seq["us_per_step"] / plain if plain and "us_per_step" in seq else None
        peaks = fe.get("rss_peaks_mb") or [None]
        growth = (
            f"{fe['rss_growth_between_runs_mb']:.1f} / {fe['rss_growth_within_run_mb']:.1f}" if fe else "n/a"
        )
        rows.append(
            [
                f"{LABELS.get(name, name)}",
                _fmt(seq.get("us_per_step")),
                _fmt(seq.get("steps_per_s")),
                _fmt(times_plain),
                _fmt(fe.get("items_per_s")),
                _fmt(conc.get("runs_per_s")),
                _fmt(conc.get("p50_s"), 2),
                _fmt(conc.get("p99_s"), 2),
                _fmt(loop.get("early_us")),
                _fmt(loop.get("late_us")) + (f" (step {loop['iterations']:,})" if loop else ""),
                _fmt(loop.get("ratio"), 2),
                _fmt(max(peaks), 0) if peaks[0] is not None else "n/a",
                growth,
            ]
        )
    return _table(header, rows)


def peer_table(peers: dict[str, Results], configs: dict[str, Results]) -> list[str]:
    ours = {name: _get(result, "sequential", "us_per_step") for name, result in configs.items()}
    header = ["peer, 200 sequential no-op steps", "µs/step", "steps/s", *(f"{n} ÷ peer (µs)" for n in ours)]
    rows = []
    for name, result in peers.items():
        ratios = [_fmt(us / result["us_per_step"], 2) if us else "n/a" for us in ours.values()]
        rows.append(
            [PEER_LABELS.get(name, name), _fmt(result["us_per_step"]), _fmt(result["steps_per_s"]), *ratios]
        )
    return _table(header, rows)


@dataclass(frozen=True)
class Target:
    """One target of issue 3: what it asks, how it is measured, and when it is met."""

    text: str
    measure: Callable[[dict[str, Results], dict[str, Results]], float | None]
    met: Callable[[float], bool]
    unit: str


def _ratio(config: str, peer: str, key: str = "steps_per_s") -> Callable[..., float | None]:
    def measure(configs: dict[str, Results], peers: dict[str, Results]) -> float | None:
        ours, theirs = _get(configs, config, "sequential", key), _get(peers, peer, key)
        return ours / theirs if ours and theirs else None

    return measure


def _value(config: str, *keys: str) -> Callable[..., float | None]:
    def measure(configs: dict[str, Results], peers: dict[str, Results]) -> float | None:
        value = _get(configs, config, *keys)
        return float(value) if value is not None else None

    return measure


def _memory_growth(config: str) -> Callable[..., float | None]:
    def measure(configs: dict[str, Results], peers: dict[str, Results]) -> float | None:
        foreach = _get(configs, config, "foreach")
        if not foreach:
            return None
        return float(max(foreach["rss_growth_between_runs_mb"], foreach["rss_growth_within_run_mb"]))

    return measure


def targets(configs: dict[str, Results]) -> list[Target]:
    listed = [
        Target("evented PG+Redis, 2 workers ≥ 1.5× DBOS steps/s",
               _ratio("postgres/evented", "dbos-postgres"), lambda v: v >= 1.5, "×"),
        Target("evented embedded ≥ 800 steps/s", _value("sqlite/evented", "sequential", "steps_per_s"),
               lambda v: v >= 800, "steps/s"),
        Target("default on PostgreSQL ≥ 2× DBOS steps/s", _ratio("postgres/default", "dbos-postgres"),
               lambda v: v >= 2, "×"),
        Target("default on SQLite ≤ ½ LangGraph-SQLite µs/step",
               _ratio("sqlite/default", "langgraph-sqlite", "us_per_step"), lambda v: v <= 0.5, "×"),
        Target("in-memory ≤ 60 µs/step", _value("memory/default", "sequential", "us_per_step"),
               lambda v: v <= 60, "µs/step"),
        Target("foreach 1000@50, evented PG+Redis ≥ 500 items/s",
               _value("postgres/evented", "foreach", "items_per_s"), lambda v: v >= 500, "items/s"),
    ]  # fmt: skip
    for name in configs:
        listed += [
            Target(f"last loop step ≤ 1.3× step 10: {name}", _value(name, "loop", "ratio"),
                   lambda v: v <= 1.3, "×"),
            Target(f"200 concurrent 5-step runs p99 ≤ 2 s: {name}", _value(name, "concurrent", "p99_s"),
                   lambda v: v <= 2, "s"),
            Target(f"worker memory flat over the foreach (≤ {FLAT_MB:.0f} MB growth): {name}",
                   _memory_growth(name), lambda v: v <= FLAT_MB, "MB"),
        ]  # fmt: skip
    return listed


def target_table(configs: dict[str, Results], peers: dict[str, Results]) -> list[str]:
    rows = []
    for target in targets(configs):
        value = target.measure(configs, peers)
        verdict = "n/a" if value is None else ("met" if target.met(value) else "**missed**")
        rows.append([target.text, "n/a" if value is None else f"{value:,.2f} {target.unit}", verdict])
    return _table(["target", "measured", "verdict"], rows)


def log_notes(configs: dict[str, Results]) -> list[str]:
    """What each configuration's processes logged (warnings of the engine, mostly)."""
    notes = []
    for name, result in configs.items():
        log = result.get("log")
        if log:
            kinds = "; ".join(f"`{kind}`" for kind in log["distinct"])
            notes.append(f"- {name} logged {log['lines']} lines, of these kinds: {kinds}")
    return notes
