"""`headwater pii scan | list` and `headwater profile SOURCE TABLE`."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from headwater.cli.common import ProjectOption, console, fail, friendly_errors
from headwater.config import load_project

pii_app = typer.Typer(
    help="PII in the warehouse: scan source tables, list PII columns (models included).",
    no_args_is_help=True,
)


@pii_app.command()
@friendly_errors
def scan(
    source: Annotated[
        str | None, typer.Argument(help="Source to scan (default: every source).")
    ] = None,
    table: Annotated[
        list[str] | None, typer.Option("--table", "-t", help="Only this table (repeatable).")
    ] = None,
    project: ProjectOption = None,
) -> None:
    """Scan source tables for PII now: record findings and announce new ones (new_pii)."""
    from headwater.governance.pii import scan_source
    from headwater.store import MetadataStore

    loaded = load_project(project)
    sources = list(loaded.config.sources)
    if source is not None and source not in sources:
        raise fail(f"no source '{source}' in project.yml; known sources: {', '.join(sources)}")
    if table and source is None:
        raise fail("--table needs a SOURCE: headwater pii scan SOURCE --table T")
    store = MetadataStore.open(loaded)
    try:
        scans = [
            scan
            for name in ([source] if source else sources)
            for scan in scan_source(loaded, name, table or None, store=store)
        ]
    finally:
        store.close()
    found = Table("source", "table", "column", "kind", "share", "samples", "evidence", "new")
    for result in scans:
        new = {(f.column, f.kind) for f in result.new}
        for finding in result.findings:
            share = "" if finding.share is None else f"{finding.share:.0%}"
            found.add_row(
                result.source, result.table, finding.column, finding.kind, share,
                str(finding.sample_size), ", ".join(finding.evidence),
                "yes" if (finding.column, finding.kind) in new else "",
            )  # fmt: skip
    console.print(found)
    columns = {(s.source, s.table, f.column) for s in scans for f in s.findings}
    console.print(
        f"scanned {len(scans)} tables: {len(columns)} PII columns, "
        f"{sum(len(s.new) for s in scans)} new findings",
        highlight=False,
    )


@pii_app.command("list")
@friendly_errors
def list_pii(
    source: Annotated[
        str | None, typer.Option("--source", "-s", help="Only columns of this source.")
    ] = None,
    all_columns: Annotated[
        bool, typer.Option("--all", help="Also columns declared not PII by an override.")
    ] = False,
    project: ProjectOption = None,
) -> None:
    """PII columns: scan findings and overrides of source tables, and dbt model columns
    derived from them through column lineage."""
    from headwater.governance.pii_lineage import effective_pii
    from headwater.store import MetadataStore

    loaded = load_project(project)
    store = MetadataStore.open(loaded)
    try:
        columns = effective_pii(loaded, store)
    finally:
        store.close()
    shown = Table("relation", "column", "kinds", "pii", "evidence")
    count = 0
    for column in columns:
        derived = any(o.startswith(f"raw_{source}.") for o in column.lineage_from)
        if source is not None and column.source != source and not derived:
            continue
        if not column.pii and not all_columns:
            continue
        count += 1
        shown.add_row(
            column.relation, column.column, ", ".join(column.kinds),
            "yes" if column.pii else "no", "; ".join(column.evidence),
        )  # fmt: skip
    console.print(shown)
    console.print(f"{count} columns", highlight=False)


@friendly_errors
def profile(
    source: Annotated[str, typer.Argument(help="Source name from project.yml.")],
    table: Annotated[str, typer.Argument(help="Table in raw_<source>.")],
    project: ProjectOption = None,
) -> None:
    """Profile a source table now (nulls, distinct values, min, max, mean, top values) and
    store it as its last profile."""
    from headwater.governance.profiling import profile_table
    from headwater.store import MetadataStore

    loaded = load_project(project)
    store = MetadataStore.open(loaded)
    try:
        result = profile_table(loaded, store, source, table)
    finally:
        store.close()
    shown = Table("column", "type", "nulls", "distinct", "min", "max", "mean", "top values")
    for column in result.columns:
        distinct = "" if column.distinct_count is None else f"{column.distinct_count:,}"
        if column.distinct_approx:
            distinct = f"~{distinct}"
        top = ", ".join(f"{v['value']} ({v['count']})" for v in column.top_values[:3])
        shown.add_row(
            column.name, column.type, f"{column.null_share:.1%}", distinct,
            _text(column.min), _text(column.max),
            "" if column.mean is None else f"{column.mean:,.4g}", top,
        )  # fmt: skip
    console.print(shown)
    console.print(f"raw_{source}.{table}: {result.row_count:,} rows", highlight=False)


def _text(value: object) -> str:
    return "" if value is None else str(value)
