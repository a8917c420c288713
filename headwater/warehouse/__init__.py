"""The DuckLake warehouse: extensions from pip packages, reader and writer sessions."""

from headwater.warehouse.warehouse import LAKE, Warehouse, raw_schema, table_columns

__all__ = ["LAKE", "Warehouse", "raw_schema", "table_columns"]
