"""The files connector: CSV, JSONL/NDJSON and Parquet files read by DuckDB as Arrow batches.

Each table reads every file matching its path or glob. A file's fingerprint (size and
mtime in ns) goes into dlt's resource state once its rows are extracted, so it is committed
with the load and an unchanged file is skipped next time; `replace` tables read every file.
"""

from __future__ import annotations

import glob
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Literal

import duckdb

from connectors.base import BackfillWindow, CheckReport, Connector, TableSpec, resolve_options
from headwater.config.sources import FilesSource, FileTable
from headwater.errors import ConnectorError
from headwater.warehouse.sql import quote_identifier, quote_literal

if TYPE_CHECKING:
    import pyarrow as pa
    from dlt.extract.resource import DltResource

BATCH_ROWS = 500_000
"""Rows per Arrow batch handed to dlt. Measured on a 1M-row CSV: 100k to 2M-row batches all
extract in 0.6-1.0 s and dlt's load step dominates, so this only bounds memory."""

Reader = Literal["csv", "tsv", "jsonl", "json", "parquet"]
"""How a file is read: `tsv` is CSV with a tab, `json` lets DuckDB detect array vs lines."""

_SUFFIX_READERS: dict[str, Reader] = {
    ".csv": "csv",
    ".tsv": "tsv",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".json": "json",
    ".parquet": "parquet",
    ".pq": "parquet",
}
_COMPRESSED = (".gz", ".zst")
# DuckDB's messages go on with hints, the search space and the SQL; users need the first part.
_NOISE = re.compile(r"\n\s*(?:\n|LINE \d+:|Possible (?:solutions|fixes)|The search space)")


@dataclass(frozen=True)
class MatchedFile:
    """A file matching a table's glob, with the fingerprint that tells if it changed."""

    path: Path
    key: str
    """Path relative to project.yml: the key of its fingerprint in the state."""
    size: int
    mtime_ns: int

    @property
    def fingerprint(self) -> list[int]:
        """What must differ for the file to count as changed (a list: state is JSON)."""
        return [self.size, self.mtime_ns]


class FilesConnector(Connector[FilesSource]):
    """Loads one warehouse table per `tables.<name>` entry from matching files."""

    type: ClassVar[str] = "files"

    def tables(self) -> list[TableSpec]:
        """One TableSpec per configured table; merge tables must name a primary key."""
        return [self._spec(name, table) for name, table in self.config.tables.items()]

    def check(self) -> CheckReport:
        """List each table's matching files, their size and which are new or changed.

        New/changed is judged against the active dlt pipeline's state (the one made last in
        this process); without one, every file counts as new."""
        specs = self.tables()
        details: dict[str, str] = {}
        for spec in specs:
            table = self.config.tables[spec.name]
            files = self.match(spec.name, table)
            _reader(self.name, spec.name, table, files)
            loaded = _loaded_fingerprints(spec.name)
            pending = [f for f in files if loaded.get(f.key) != f.fingerprint]
            size = _human_size(sum(f.size for f in files))
            summary = f"{_plural(len(files), 'file')}, {size}; {len(pending)} new or changed"
            named = [f"{f.key} ({_human_size(f.size)})" for f in pending[:10]]
            named += [f"and {len(pending) - 10} more"] if len(pending) > 10 else []
            details[spec.name] = summary + (f": {', '.join(named)}" if named else "")
        return CheckReport(tables=specs, details=details)

    def resource(self, table: TableSpec, window: BackfillWindow | None = None) -> DltResource:
        """A resource yielding Arrow batches of the new or changed files (all files for
        replace). `window` is ignored: file tables have no cursor."""
        import dlt

        config = self.config.tables.get(table.name)
        if config is None:
            raise ConnectorError(self.name, table.name, "no such table in this source")
        read_all = table.write_disposition == "replace"
        dedup_key = table.primary_key if table.write_disposition == "merge" else []

        def read_files() -> Iterator[pa.RecordBatch | pa.Table]:
            state = dlt.current.resource_state(table.name)
            files = self.match(table.name, config)
            scan = Scan(_reader(self.name, table.name, config, files), config, dedup_key)
            loaded: dict[str, list[int]] = state.get("files", {})
            pending = [f for f in files if read_all or loaded.get(f.key) != f.fingerprint]
            if pending:
                yield from self._read(table.name, scan, pending)
            # Written only after the last batch: a failed read leaves the state as it was,
            # and files that no longer match drop out so the state does not grow forever.
            state["files"] = {f.key: f.fingerprint for f in files}

        resource = dlt.resource(
            read_files, name=table.name, write_disposition=table.write_disposition
        )()
        if table.primary_key:
            resource.apply_hints(primary_key=table.primary_key)
        return resource

    def source_row_count(self, table: TableSpec) -> int | None:
        """Rows in the table's files now: every matching file, and for merge tables one row
        per primary key (the later file wins), as a sync of all of them would load."""
        config = self.config.tables.get(table.name)
        if config is None:
            raise ConnectorError(self.name, table.name, "no such table in this source")
        files = self.match(table.name, config)
        dedup_key = table.primary_key if table.write_disposition == "merge" else []
        scan = Scan(_reader(self.name, table.name, config, files), config, dedup_key)
        conn = duckdb.connect()
        try:
            row = conn.execute(f"SELECT count(*) FROM ({scan.sql(files)})").fetchone()
        except duckdb.Error as exc:
            raise self._read_error(conn, table.name, scan, files, exc) from None
        finally:
            conn.close()
        return int(row[0]) if row else 0

    def match(self, table_name: str, table: FileTable) -> list[MatchedFile]:
        """The files matching `table.path`, sorted; a ConnectorError when there are none."""
        pattern = self.project.path(table.path)
        paths = sorted(Path(p) for p in glob.glob(str(pattern), recursive=True))
        files = [self._matched(p) for p in paths if p.is_file()]
        if not files:
            raise ConnectorError(
                self.name,
                table_name,
                f"no file matches '{table.path}' (looked for '{pattern.name}' in {pattern.parent})",
            )
        return files

    def _matched(self, path: Path) -> MatchedFile:
        stat = path.stat()
        try:
            key = str(path.relative_to(self.project.root))
        except ValueError:  # outside the project: only an absolute key is stable
            key = str(path)
        return MatchedFile(path=path, key=key, size=stat.st_size, mtime_ns=stat.st_mtime_ns)

    def _spec(self, name: str, table: FileTable) -> TableSpec:
        disposition, allow_empty = resolve_options(self.config, table)
        primary_key = list(table.primary_key or [])
        if disposition == "merge" and not primary_key:
            raise ConnectorError(self.name, name, "write_disposition merge needs primary_key")
        return TableSpec(
            name=name,
            write_disposition=disposition,
            primary_key=primary_key,
            allow_empty_replace=allow_empty,
        )

    def _read(
        self, table_name: str, scan: Scan, files: list[MatchedFile]
    ) -> Iterator[pa.RecordBatch | pa.Table]:
        """Arrow batches of all `files` in one scan (DuckDB reads them in parallel and
        unifies their columns by name); an empty table when they hold no rows."""
        conn = duckdb.connect()
        try:
            try:
                batches = conn.execute(scan.sql(files)).to_arrow_reader(BATCH_ROWS)
                rows = 0
                for batch in batches:
                    rows += batch.num_rows
                    yield batch
            except duckdb.Error as exc:
                raise self._read_error(conn, table_name, scan, files, exc) from None
            if rows == 0:
                # A header-only CSV still defines columns: create the table with them.
                yield batches.schema.empty_table()
        finally:
            conn.close()

    def _read_error(
        self,
        conn: duckdb.DuckDBPyConnection,
        table_name: str,
        scan: Scan,
        files: list[MatchedFile],
        exc: duckdb.Error,
    ) -> ConnectorError:
        """Name the file that failed: from DuckDB's message, else by reading each alone."""
        culprit = next((f for f in files if str(f.path) in str(exc)), None)
        if culprit is None and len(files) == 1:
            culprit = files[0]
        if culprit is None:  # only on failure, so re-reading to find the file is affordable
            for file in files:
                try:
                    conn.execute(f"SELECT count(*) FROM ({scan.sql([file])})")
                except duckdb.Error as single:
                    culprit, exc = file, single
                    break
        where = f"file {culprit.key}" if culprit else f"one of {len(files)} files"
        return ConnectorError(self.name, table_name, f"cannot read {where}: {_trim(exc)}")


def _reader(source: str, table_name: str, table: FileTable, files: list[MatchedFile]) -> Reader:
    """The configured format, else the one every matching file's extension implies."""
    if table.format is not None:
        if table.format == "csv" and table.delimiter is None:
            return "tsv" if all(_suffix(f.path) == ".tsv" for f in files) else "csv"
        return table.format
    suffixes = {_suffix(f.path) for f in files}
    readers = {_SUFFIX_READERS.get(s) for s in suffixes}
    if len(readers) == 1 and None not in readers:
        return readers.pop()  # type: ignore[return-value]
    raise ConnectorError(
        source,
        table_name,
        f"cannot infer the format of '{table.path}' from the extension(s) "
        f"{', '.join(sorted(s or '(none)' for s in suffixes))}; set `format:` to csv, jsonl "
        f"or parquet (known extensions: {', '.join(_SUFFIX_READERS)})",
    )


def _suffix(path: Path) -> str:
    """The format extension, looking through a compression suffix (`a.csv.gz` -> `.csv`)."""
    suffixes = [s.lower() for s in path.suffixes]
    if suffixes and suffixes[-1] in _COMPRESSED:
        suffixes.pop()
    return suffixes[-1] if suffixes else ""


@dataclass(frozen=True)
class Scan:
    """How a table's files are read: the reader, its options and the merge key."""

    reader: Reader
    table: FileTable
    dedup_key: list[str]
    """For merge tables: keep only the last row of each key."""

    def sql(self, files: list[MatchedFile]) -> str:
        """The DuckDB SELECT reading `files`; literals inlined, because binding `?`
        parameters makes duckdb import pandas (about 2 s)."""
        scan = self._read_sql("[" + ", ".join(quote_literal(str(f.path)) for f in files) + "]")
        if not self.dedup_key:
            return scan
        # dlt deduplicates a merge load too, but keeps an arbitrary row; here the later file
        # (name order) and the later line win, as a folder of dated extracts means. Scans
        # keep file and line order, so row_number() over the scan numbers rows as read.
        key = ", ".join(quote_identifier(column) for column in self.dedup_key)
        return (
            "SELECT * EXCLUDE (__hw_row) FROM "
            f"(SELECT *, row_number() OVER () AS __hw_row FROM ({scan})) "
            f"QUALIFY row_number() OVER (PARTITION BY {key} ORDER BY __hw_row DESC) = 1"
        )

    def _read_sql(self, paths: str) -> str:
        if self.reader in ("csv", "tsv"):
            header = "true" if self.table.header else "false"
            options = [f"header = {header}", "union_by_name = true"]
            delimiter = self.table.delimiter or ("\t" if self.reader == "tsv" else None)
            if delimiter is not None:
                options.append(f"delim = {quote_literal(delimiter)}")
            return f"SELECT * FROM read_csv({paths}, {', '.join(options)})"
        if self.reader in ("jsonl", "json"):
            style = "newline_delimited" if self.reader == "jsonl" else "auto"
            return f"SELECT * FROM read_json({paths}, format = '{style}', union_by_name = true)"
        return f"SELECT * FROM read_parquet({paths}, union_by_name = true)"


def _loaded_fingerprints(table_name: str) -> dict[str, Any]:
    """Fingerprints the active dlt pipeline holds for `table_name` (empty without one)."""
    from dlt.common.configuration.container import Container
    from dlt.common.pipeline import PipelineContext

    context = Container()[PipelineContext]
    if not context.is_active():
        return {}
    sources: dict[str, Any] = context.pipeline().state.get("sources", {})
    for source_state in sources.values():
        files = source_state.get("resources", {}).get(table_name, {}).get("files")
        if files is not None:
            return dict(files)
    return {}


def _trim(exc: Exception) -> str:
    """DuckDB's message without its hints and SQL excerpt, on one line."""
    first = _NOISE.split(str(exc), maxsplit=1)[0]
    message = re.sub(r"\s+", " ", first).strip()
    return message if len(message) <= 400 else message[:397] + "..."


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}" + ("" if count == 1 else "s")


def _human_size(size: int) -> str:
    if size < 1000:
        return f"{size} B"
    scaled, unit = next(
        (size / 1000**p, u) for p, u in ((3, "GB"), (2, "MB"), (1, "KB")) if size >= 1000**p
    )
    return f"{scaled:.1f} {unit}"
