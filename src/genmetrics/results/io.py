"""Result files, written atomically (see :mod:`genmetrics.atomic`, the one atomic writer)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from genmetrics.atomic import atomic_write, output_folder

__all__ = ["atomic_write", "output_folder", "write_json", "write_table"]


def write_json(path: str | os.PathLike, obj: Any) -> Path:
    def write(tmp: str) -> None:
        with open(tmp, "w") as f:
            json.dump(obj, f, indent=2, allow_nan=False)
            f.write("\n")

    return atomic_write(path, write)


def write_table(path: str | os.PathLike, rows: list[dict[str, Any]]) -> Path:
    """Write rows as Parquet (``.parquet``) or CSV (``.csv``), atomically."""
    path = Path(path)
    if path.suffix == ".parquet":
        import pyarrow as pa
        import pyarrow.parquet as pq

        table = pa.Table.from_pylist(rows)
        return atomic_write(path, lambda tmp: pq.write_table(table, tmp))
    import csv

    from genmetrics.results.escape import csv_cell

    columns: list[str] = list(dict.fromkeys(k for r in rows for k in r))

    def write(tmp: str) -> None:
        with open(tmp, "w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=columns)
            w.writer.writerow([csv_cell(c) for c in columns])  # text escaped: results.escape
            w.writerows({k: csv_cell(v) for k, v in r.items()} for r in rows)

    return atomic_write(path, write)
