"""`headwater lineage NODE [--column C]`: model or column lineage as a tree."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.tree import Tree

from headwater.catalog.column_graph import ColumnGraph, ColumnTree, warehouse_schema
from headwater.catalog.column_lineage import ColumnRef
from headwater.catalog.lineage import LineageTree, model_lineage
from headwater.catalog.manifest import load_manifest
from headwater.cli.common import ProjectOption, console, fail, friendly_errors
from headwater.config import load_project
from headwater.warehouse import Warehouse


@friendly_errors
def lineage(
    node: Annotated[str, typer.Argument(help="Model, seed or source table (e.g. orders.orders).")],
    column: Annotated[
        str | None, typer.Option("--column", "-c", help="Follow one column instead.")
    ] = None,
    downstream: Annotated[bool, typer.Option("--downstream", help="Only what uses it.")] = False,
    upstream: Annotated[bool, typer.Option("--upstream", help="Only what it reads.")] = False,
    project: ProjectOption = None,
) -> None:
    """Print what NODE (or its column) is built from and what is built from it."""
    loaded = load_project(project)
    target_dir = loaded.state_dir / "dbt" / "target"
    if not (target_dir / "manifest.json").exists():
        raise fail(f"no dbt manifest in {target_dir} yet; run `headwater dbt build` first")
    manifest = load_manifest(target_dir)
    graph = model_lineage(manifest)
    found = graph.find(node)
    both = upstream == downstream
    if column is None:
        if upstream or both:
            console.print(_model_tree(graph.upstream(found.id), "upstream"))
        if downstream or both:
            console.print(_model_tree(graph.downstream(found.id), "downstream"))
        return
    if found.relation is None:
        raise fail(f"{found.name} is not a table in the warehouse; column lineage needs one")
    with Warehouse(loaded).reader() as conn:
        schema = warehouse_schema(conn)
    columns = ColumnGraph(manifest, schema)
    ref = ColumnRef(found.relation.lower(), column.lower())
    columns.require(ref, schema)
    if upstream or both:
        console.print(_column_tree(columns.upstream(ref), "upstream"))
    if downstream or both:
        console.print(_column_tree(columns.downstream(ref), "downstream"))
    for model, problem in columns.problems.items():
        console.print(f"[yellow]note:[/] {model}: {problem}", highlight=False)


def _model_tree(tree: LineageTree, direction: str) -> Tree:
    root = Tree(f"[bold]{tree.node.name}[/] ({tree.node.resource_type}) {direction}")
    _add_models(root, tree)
    return root


def _add_models(branch: Tree, tree: LineageTree) -> None:
    for child in tree.children:
        mark = ""
        if child.cycle or child.repeated:
            mark = " [dim](cycle)[/]" if child.cycle else " [dim](see above)[/]"
        _add_models(branch.add(f"{child.node.name} ({child.node.resource_type}){mark}"), child)


def _column_tree(tree: ColumnTree, direction: str) -> Tree:
    root = Tree(f"[bold]{tree.column.table}.{tree.column.column}[/] {direction}")
    _add_columns(root, tree)
    return root


def _add_columns(branch: Tree, tree: ColumnTree) -> None:
    for child in tree.children:
        mark = " [dim](cycle)[/]" if child.cycle else ""
        label = f"{child.column.table}.{child.column.column} [cyan]{child.kind}[/]{mark}"
        _add_columns(branch.add(label), child)
