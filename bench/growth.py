"""``make bench BENCH_ARGS=growth``: what start-up and memory cost as history grows.

For each dimension the figure at a small size and at a large one, and their
ratio (large / small); the target is at most 2x (DESIGN.md section 8: start-up
and memory do not grow with history). Ratios, so a noisy machine still judges
them. ``--quick`` runs small sizes only (a smoke check, not the verdict).

- stored keys -> resolver ready time and RSS (1,000 vs 1,000,000 keys);
- enumerations past the server's 100,000-subjects-per-reply listing: key
  rotation with rewrap and the re-validation sweep reach every key (2,000 vs
  120,000 keys; the time per key is the figure);
- usage events and journal length: the ledger helper's ``bench.growth_ledger``
  and ``bench.growth_usage`` modules, when present, are run and reported here.
"""

from __future__ import annotations

import importlib
from typing import Any

from bench import _growth_keys

TARGET = 2.0


def _row(name: str, small: float, large: float, sizes: tuple[int, int]) -> dict[str, Any]:
    ratio = large / small if small else float("inf")
    return {
        "dimension": name,
        "small_n": sizes[0],
        "small": small,
        "large_n": sizes[1],
        "large": large,
        "ratio": round(ratio, 2),
        "within_2x": ratio <= TARGET,
    }


def _table(rows: list[dict[str, Any]]) -> str:
    lines = [f"{'dimension':44} {'small':>14} {'large':>16} {'ratio':>6}"]
    for row in rows:
        small = f"{row['small']} @{row['small_n']:,}"
        large = f"{row['large']} @{row['large_n']:,}"
        lines.append(f"{row['dimension']:44} {small:>14} {large:>16} {row['ratio']:>6}")
    return "\n".join(lines)


async def _keys(quick: bool) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    small_n, large_n = (1_000, 20_000) if quick else (1_000, 1_000_000)
    small = await _growth_keys.resolver_at(small_n)
    large = await _growth_keys.resolver_at(large_n)
    sizes = (small_n, large_n)
    rows = [
        _row("stored keys -> resolver ready (s)", small["ready_s"], large["ready_s"], sizes),
        _row(
            "stored keys -> resolver CPU until ready (s)",
            small["ready_cpu_s"],
            large["ready_cpu_s"],
            sizes,
        ),
        _row("stored keys -> resolver RSS (MB)", small["rss_mb"], large["rss_mb"], sizes),
        _row(
            "stored keys -> RSS after a hot set (MB)",
            small["rss_after_hot_set_mb"],
            large["rss_after_hot_set_mb"],
            sizes,
        ),
    ]
    return rows, {"small": small, "large": large}


async def _listing(quick: bool) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    small_n, large_n = (500, 5_000) if quick else (2_000, 120_000)
    small = await _growth_keys.listing_at(small_n)
    large = await _growth_keys.listing_at(large_n)
    sizes = (small_n, large_n)

    def per_key_ms(result: dict[str, Any], what: str) -> float:
        return round(float(result[what]) / int(result["stored_keys"]) * 1000, 4)

    rows = [
        _row(
            "stored keys -> rotate+rewrap per key (ms)",
            per_key_ms(small, "rotate_s"),
            per_key_ms(large, "rotate_s"),
            sizes,
        ),
        _row(
            "stored keys -> sweep per key (ms)",
            per_key_ms(small, "sweep_s"),
            per_key_ms(large, "sweep_s"),
            sizes,
        ),
    ]
    return rows, {"small": small, "large": large}


INCLUDES = ("growth_ledger", "growth_usage")
"""The ledger helper's suites: run from here, so ``make bench`` skips them on their own."""


async def _helper_modules(quick: bool) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Usage events and journal length (the ledger helper's modules), when landed."""
    rows: list[dict[str, Any]] = []
    found: dict[str, Any] = {}
    for name in INCLUDES:
        try:
            module = importlib.import_module(f"bench.{name}")
        except ModuleNotFoundError:
            found[name] = "not on this branch yet"
            continue
        result: dict[str, Any] = await module.run(quick=quick)
        found[name] = result
        small, large = result.get("small", {}), result.get("large", {})
        sizes = (_size(small), _size(large))
        for key in result:
            figure = key.removesuffix("_ratio")
            if key.endswith("_ratio") and figure in small and figure in large:
                rows.append(
                    _row(f"{name}: {figure}", float(small[figure]), float(large[figure]), sizes)
                )
    return rows, found


def _size(measured: dict[str, Any]) -> int:
    for name in ("n", "entries", "events", "journal", "m", "size"):
        if isinstance(measured.get(name), int):
            return int(measured[name])
    return 0


async def run(quick: bool) -> dict[str, Any]:
    key_rows, key_detail = await _keys(quick)
    list_rows, list_detail = await _listing(quick)
    helper_rows, helpers = await _helper_modules(quick)
    rows = key_rows + list_rows + helper_rows
    print(_table(rows), flush=True)
    reached = all(
        d["rotate_reached_every_key"] and d["sweep_found_the_last_key"]
        for d in list_detail.values()
    )
    large_ready = key_detail["large"]["ready_s"]
    return {
        "rows": rows,
        "resolver": key_detail,
        "listing": list_detail,
        "helpers": helpers,
        "meets_bar": {
            "within_2x": all(row["within_2x"] for row in key_rows + helper_rows),
            "resolver_ready_under_3s": large_ready < 3.0,
            "listings_reach_every_key": reached,
        },
    }
