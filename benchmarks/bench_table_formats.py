"""Delta Lake (deltalake) and Lance (pylance) side by side for the score store, on the paper-size synthetic store
(3.8M rows) and on a real scoring run's shape, locally and on a local S3 server (moto, 127.0.0.1).

Each format does what the store does:
- ``bulk``: write the whole table once (what `causaliqa migrate` and a full compaction do);
- ``append parts``: a scoring run's 20 parts of 512 rows, one commit each;
- ``add column``: a new estimator's column for every existing row (Delta: append the key + the column as new
  rows, merged on read, the store's design; Lance: its native ``merge`` on the key, which rewrites no old column);
- ``read``: the analysis columns (key, provenance, 3 M and 6 Q) into pandas, straight from the format (the store's
  own reader, which also merges rows by key and sorts, is timed before and after the move in the first rows);
- ``2 writers``: two processes appending 20 parts each at once: seconds, and whether all 40 parts' rows landed.

    python benchmarks/bench_table_formats.py [--images 50000] [--s3-images 50000]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa

os.environ.setdefault("LANCE_LOG", "error")
os.environ.setdefault("RUST_LOG", "error")

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from common import report, s3_server  # noqa: E402
from make_paper_store import M_MODELS, Q_SCORES, paper_frame  # noqa: E402

KEY = ["image_id", "corruption", "severity"]
READ = KEY + ["label", "input_sha"] + [f"{m}.correct" for m in M_MODELS] + list(Q_SCORES)
PARTS, PART_ROWS = 20, 512


class Delta:
    name = "delta"

    def __init__(self, uri: str):
        self.uri = uri

    def bulk(self, table: pa.Table) -> None:
        from deltalake import write_deltalake

        write_deltalake(self.uri, table, mode="overwrite", schema_mode="overwrite")

    def append(self, table: pa.Table) -> None:
        from deltalake import write_deltalake
        from deltalake.exceptions import CommitFailedError

        for attempt in range(100):  # a concurrent schema change is a conflict: retried
            try:
                write_deltalake(self.uri, table, mode="append", schema_mode="merge")
                return
            except CommitFailedError:
                time.sleep(0.01 * (attempt + 1))
        raise RuntimeError("append kept conflicting")

    def add_column(self, keys: pa.Table) -> None:
        self.append(keys)

    def read(self, columns: list[str]) -> pd.DataFrame:
        import pyarrow.dataset as ds
        from deltalake import DeltaTable

        table = DeltaTable(self.uri)
        fs = filesystem(self.uri)
        files = [u.split("://", 1)[1] if fs is not None else u for u in table.file_uris()]
        data = ds.dataset(files, format="parquet", filesystem=fs, schema=pa.schema(table.schema().to_arrow())).to_table(columns=columns)
        return data.to_pandas()

    def compact(self) -> None:
        """The store's compaction: every row once (last value per key and column wins), one overwrite commit."""
        from deltalake import write_deltalake

        frame = self.read(None)
        frame = frame.groupby(KEY, sort=False, as_index=False).last()
        write_deltalake(self.uri, pa.Table.from_pandas(frame, preserve_index=False), mode="overwrite")

    def rows(self) -> int:
        from deltalake import DeltaTable

        return DeltaTable(self.uri).to_pyarrow_dataset().count_rows()


class Lance:
    name = "lance"

    def __init__(self, uri: str):
        self.uri = uri

    def bulk(self, table: pa.Table) -> None:
        import lance

        lance.write_dataset(dotless(table), self.uri, mode="overwrite")

    def append(self, table: pa.Table) -> None:
        import lance

        for attempt in range(100):
            try:
                lance.write_dataset(dotless(table), self.uri, mode="append")
                return
            except OSError:
                time.sleep(0.01 * (attempt + 1))
        raise RuntimeError("append kept conflicting")

    def add_column(self, keys: pa.Table) -> None:
        import lance

        lance.dataset(self.uri).merge(dotless(keys), left_on="row_key")

    def compact(self) -> None:
        import lance

        lance.dataset(self.uri).optimize.compact_files()

    def read(self, columns: list[str]) -> pd.DataFrame:
        import lance

        frame = lance.dataset(self.uri).to_table(columns=[DOTLESS(c) for c in columns]).to_pandas()
        return frame.set_axis(columns, axis=1)

    def rows(self) -> int:
        import lance

        return lance.dataset(self.uri).count_rows()


FORMATS = {"delta": Delta, "lance": Lance}


def DOTLESS(name: str) -> str:  # noqa: N802
    """Lance refuses a top-level column name with a dot (it reads it as a struct path): the store's names,
    ``resnet34.correct``, would need a mapping (every other reader would then see the mapped names)."""
    return name.replace(".", "__")


def dotless(table: pa.Table) -> pa.Table:
    return table.rename_columns([DOTLESS(c) for c in table.column_names])


def filesystem(uri: str):
    if not uri.startswith("s3://"):
        return None

    import pyarrow.fs as pfs

    return pfs.S3FileSystem(endpoint_override=os.environ.get("AWS_ENDPOINT_URL"), region=os.environ.get("AWS_REGION", "us-east-1"))


def with_row_key(frame: pd.DataFrame) -> pd.DataFrame:
    """Lance's merge joins on one column: the key as one string (the Delta table carries it too, for equal bytes)."""
    return frame.assign(row_key=frame["image_id"] + "|" + frame["corruption"] + "|" + frame["severity"].astype(str))


def append_worker(fmt: str, uri: str, who: int) -> None:
    store = FORMATS[fmt](uri)
    rng = np.random.default_rng(who)
    for part in range(PARTS):
        ids = [f"w{who}_p{part}_{i}" for i in range(PART_ROWS)]
        frame = pd.DataFrame({"image_id": ids, "corruption": "clean", "severity": np.int16(0), "label": 0, "input_sha": "x"})
        frame = with_row_key(frame).assign(**{c: rng.random(PART_ROWS) for c in Q_SCORES})
        store.append(pa.Table.from_pandas(frame, preserve_index=False))


def measure(fmt: str, uri: str, frame: pd.DataFrame) -> dict:
    store = FORMATS[fmt](uri)
    table = pa.Table.from_pandas(frame, preserve_index=False)
    out = {}
    start = time.perf_counter()
    store.bulk(table)
    out["bulk_s"] = time.perf_counter() - start
    part = frame.iloc[:PART_ROWS].assign(image_id=lambda f: "new_" + f["image_id"])
    part = pa.Table.from_pandas(with_row_key(part.drop(columns="row_key")), preserve_index=False)
    start = time.perf_counter()
    for _ in range(PARTS):
        store.append(part)
    out["append_part_s"] = (time.perf_counter() - start) / PARTS
    keys = frame[["row_key"] if fmt == "lance" else KEY + ["row_key"]].assign(**{"new.score": np.arange(len(frame), dtype=np.float64)})
    start = time.perf_counter()
    store.add_column(pa.Table.from_pandas(keys, preserve_index=False))
    out["add_column_s"] = time.perf_counter() - start
    start = time.perf_counter()
    store.compact()
    out["compact_s"] = time.perf_counter() - start
    reads = []
    for _ in range(3):
        start = time.perf_counter()
        got = store.read(READ)
        reads.append(time.perf_counter() - start)
    out["read_s"] = float(np.median(reads))
    out["read_rows"] = len(got)
    before = store.rows()
    start = time.perf_counter()
    workers = [subprocess.Popen([sys.executable, __file__, "--append-worker", fmt, uri, str(w)]) for w in (1, 2)]
    codes = [w.wait() for w in workers]
    out["two_writers_s"] = time.perf_counter() - start
    landed = store.rows() - before
    out["two_writers_rows"] = f"{landed} of {2 * PARTS * PART_ROWS}" + ("" if codes == [0, 0] else f" (exit codes {codes})")
    return out


def store_read_write(frame: pd.DataFrame, folder: Path) -> list[dict]:
    """The store's own readers and writers at this size, before (the older Parquet layout: one scores.parquet,
    read by causaliqa.scoring.legacy) and after (Delta tables: write_scores, load_scores), in this one run."""
    from causaliqa.scoring import legacy
    from causaliqa.scoring.store import load_scores, write_scores

    frame = frame.drop(columns="row_key")
    old, new = folder / "old", folder / "new"
    old.mkdir()
    start = time.perf_counter()
    frame.to_parquet(old / "scores.parquet", index=False)
    old_write = time.perf_counter() - start
    start = time.perf_counter()
    write_scores(new, frame)
    new_write = time.perf_counter() - start
    old_read = float(np.median([_timed(lambda: legacy.load_scores(old, columns=READ)) for _ in range(3)]))
    new_read = float(np.median([_timed(lambda: load_scores(new, columns=READ)) for _ in range(3)]))
    pd.testing.assert_frame_equal(legacy.load_scores(old, columns=READ)[READ].astype({"severity": "int64"}),
                                  load_scores(new, columns=READ)[READ].astype({"severity": "int64"}))
    rows = f"{len(frame):,} rows"
    return [
        {"workload": f"store write, {rows}: before (scores.parquet)", "ours_s": old_write, "target": "-", "met": True},
        {"workload": f"store write, {rows}: after (Delta, write_scores)", "ours_s": new_write, "reference_s": old_write,
         "ratio": new_write / old_write, "target": "<= 1.1 x before", "met": new_write <= 1.1 * old_write},
        {"workload": f"store read of {len(READ)} analysis columns, {rows}: before (legacy.load_scores)", "ours_s": old_read, "target": "-", "met": True},
        {"workload": f"store read of {len(READ)} analysis columns, {rows}: after (Delta, load_scores)", "ours_s": new_read,
         "reference_s": old_read, "ratio": new_read / old_read, "target": "<= 1.1 x before", "met": new_read <= 1.1 * old_read},
    ]


def _timed(func) -> float:
    start = time.perf_counter()
    func()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=50_000, help="ids of the local paper store (x 76 variants)")
    parser.add_argument("--s3-images", type=int, default=50_000, help="ids of the store on the S3 server")
    parser.add_argument("--append-worker", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.append_worker:
        append_worker(args.append_worker[0], args.append_worker[1], int(args.append_worker[2]))
        return
    frame = with_row_key(paper_frame(args.images)[0])
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        rows += store_read_write(frame, folder)
        old = rows[2]["ours_s"]
        for fmt in FORMATS:
            got = measure(fmt, str(folder / fmt), frame)
            print(fmt, "local", got, flush=True)
            rows.append({"workload": f"{fmt}, local disk, {len(frame):,} rows: read", "ours_s": got["read_s"], **got,
                         "target": f"read <= 1.1 x old store ({1.1 * old:.3g} s)", "met": got["read_s"] <= 1.1 * old})
        server, _ = s3_server()
        try:
            import boto3

            boto3.client("s3").create_bucket(Bucket="bench")
            small = frame.iloc[: args.s3_images * 76]
            for fmt in FORMATS:
                got = measure(fmt, f"s3://bench/{fmt}", small)
                print(fmt, "s3", got, flush=True)
                rows.append({"workload": f"{fmt}, S3 (moto on 127.0.0.1), {len(small):,} rows: read", "ours_s": got["read_s"], **got,
                             "target": "all rows of both writers land", "met": got["two_writers_rows"].split(" of ")[0] == str(2 * PARTS * PART_ROWS)})
        finally:
            server.terminate()
    report("table_formats", {"rows": len(frame), "parts": PARTS, "part_rows": PART_ROWS, "read_columns": len(READ)}, rows)


if __name__ == "__main__":
    main()
