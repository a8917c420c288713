"""`headwater lineage NODE [--column C]`: model or column lineage as a tree."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, TypeVar

import typer
from rich.tree import Tree

from headwater.catalog.column_graph import ColumnTree, warehouse_schema
from headwater.catalog.column_lineage import ColumnRef
from headwater.catalog.consoles import load_project_catalog
from headwater.catalog.lineage import LineageTree, UnknownNodeError
from headwater.catalog.node_columns import console_table, node_columns, project_column_graph
from headwater.cli.common import ProjectOption, console, fail, friendly_errors
from headwater.config import load_project
from headwater.warehouse import Warehouse

Node = TypeVar("Node", LineageTree, ColumnTree)


@friendly_errors
def lineage(
    node: Annotated[
        str, typer.Argument(help="Model, seed, source table (e.g. orders.orders) or console.")
    ],
    column: Annotated[
        str | None, typer.Option("--column", "-c", help="Follow one column instead.")
    ] = None,
    downstream: Annotated[bool, typer.Option("--downstream", help="Only what uses it.")] = False,
    upstream: Annotated[bool, typer.Option("--upstream", help="Only what it reads.")] = False,
    project: ProjectOption = None,
) -> None:
    """Print what NODE (or its column) is built from and what is built from it: raw tables,
    dbt models and the consoles reading them."""
    loaded = load_project(project)
    found_catalog = load_project_catalog(loaded)
    graph = found_catalog.graph
    try:
        found = graph.find(node)
    except UnknownNodeError as exc:
        if found_catalog.catalog.manifest is not None:
            raise
        target_dir = loaded.state_dir / "dbt" / "target"
        raise fail(f"{exc}; no dbt manifest in {target_dir} yet, so no models: "
                   "run `headwater dbt build` first") from None
    both = upstream == downstream
    if column is None:
        if upstream or both:
            console.print(_model_tree(graph.upstream(found.id), "upstream"))
        if downstream or both:
            console.print(_model_tree(graph.downstream(found.id), "downstream"))
        if found.error:
            console.print(f"[yellow]note:[/] {found.name}: {found.error}", highlight=False)
        return
    consoles = found_catalog.consoles
    manifest = found_catalog.catalog.manifest
    with Warehouse(loaded).reader() as conn:
        schema = warehouse_schema(conn)
    # Its columns (from the warehouse, or a console's SQL); says why when it has none.
    names = [c.name for c in node_columns(graph, found.id, manifest, consoles, schema).columns]
    if column.lower() not in {name.lower() for name in names}:
        raise fail(f"{found.name} has no column '{column}'; its columns: {', '.join(names)}")
    console_node = next((c for c in consoles if c.node_id == found.id), None)
    table = console_table(console_node) if console_node else (found.relation or "")
    columns = project_column_graph(manifest, consoles, schema)
    ref = ColumnRef(table.lower(), column.lower())
    if upstream or both:
        console.print(_column_tree(columns.upstream(ref), "upstream"))
    if downstream or both:
        console.print(_column_tree(columns.downstream(ref), "downstream"))
    for model, problem in columns.problems.items():
        console.print(f"[yellow]note:[/] {model}: {problem}", highlight=False)


def _model_tree(tree: LineageTree, direction: str) -> Tree:
    def label(node: LineageTree) -> str:
        mark = " [dim](cycle)[/]" if node.cycle else " [dim](see above)[/]" if node.repeated else ""
        if node.node.error:
            mark += " [red](SQL not analysed)[/]"
        return f"{node.node.name} ({node.node.resource_type}){mark}"

    return _render(
        tree, f"[bold]{tree.node.name}[/] ({tree.node.resource_type}) {direction}", label
    )


def _column_tree(tree: ColumnTree, direction: str) -> Tree:
    def label(node: ColumnTree) -> str:
        mark = " [dim](cycle)[/]" if node.cycle else ""
        return f"{node.column.table}.{node.column.column} [cyan]{node.kind}[/]{mark}"

    return _render(tree, f"[bold]{tree.column.table}.{tree.column.column}[/] {direction}", label)


def _render(tree: Node, title: str, label: Callable[[Node], str]) -> Tree:
    """A rich Tree of `tree`'s children, in order, each line written by `label`."""
    root = Tree(title)

    def add(branch: Tree, node: Node) -> None:
        for child in node.children:
            add(branch.add(label(child)), child)

    add(root, tree)
    return root
