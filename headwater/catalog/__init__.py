"""Catalog and lineage: dbt manifest + warehouse schemas -> catalog, model and SQL lineage."""

from headwater.catalog.catalog import (
    Catalog,
    CatalogColumn,
    CatalogEntry,
    CatalogTest,
    ModelDetails,
    build_catalog,
    catalog_from,
)
from headwater.catalog.column_lineage import ColumnEdge, ColumnRef, column_lineage, model_columns
from headwater.catalog.lineage import (
    Impact,
    LineageEdge,
    LineageGraph,
    LineageNode,
    LineageTree,
    UnknownNodeError,
    build_graph,
    model_lineage,
)
from headwater.catalog.manifest import (
    ColumnDoc,
    Manifest,
    ManifestError,
    ManifestNode,
    ManifestTest,
    load_manifest,
    parse_manifest,
)
from headwater.catalog.run_results import RunResult, parse_run_results
from headwater.catalog.sql_lineage import SqlLineage, sql_lineage
from headwater.catalog.tables import WarehouseTable, warehouse_tables

__all__ = [
    "Catalog",
    "CatalogColumn",
    "CatalogEntry",
    "CatalogTest",
    "ColumnDoc",
    "ColumnEdge",
    "ColumnRef",
    "Impact",
    "LineageEdge",
    "LineageGraph",
    "LineageNode",
    "LineageTree",
    "Manifest",
    "ManifestError",
    "ManifestNode",
    "ManifestTest",
    "ModelDetails",
    "RunResult",
    "SqlLineage",
    "UnknownNodeError",
    "WarehouseTable",
    "build_catalog",
    "build_graph",
    "catalog_from",
    "column_lineage",
    "load_manifest",
    "model_columns",
    "model_lineage",
    "parse_manifest",
    "parse_run_results",
    "sql_lineage",
    "warehouse_tables",
]
