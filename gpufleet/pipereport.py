"""The plan's "Copy paths" table (gpufleet/pipes.py; JSON `pipes`): its own module so that
gpufleet/report.py stays within the architecture's 500 lines."""

from __future__ import annotations

from typing import Any

from gpufleet.tables import Row


def pipe_tables(pipes: list[dict[str, Any]] | None) -> list[tuple[str, Row, list[Row]]]:
    """With copies away from a home: each path's copies, needed against available at line rate."""
    if not pipes:
        return []

    def rate(gbps: float | None, tib: float | None) -> str:
        return "no documented cap" if gbps is None else f"{gbps:,.3f} Gbps ({tib:,.1f} TiB/mo)"

    verdict = {True: "yes", False: "NO", None: "unchecked"}
    rows: list[Row] = [
        (p["path"], "; ".join(p["copies"]), rate(p["needed_gbps"], p["needed_tib_per_month"]),
         rate(p["available_gbps"], p["available_tib_per_month"]), verdict[p["fits"]], p["source"])
        for p in pipes
    ]
    return [("Copy paths (line rate, 730-hour month)", ("copy path", "copies", "needed", "available", "fits", "source"),
             rows)]
