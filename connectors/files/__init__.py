"""The `files` source type: CSV, JSONL/NDJSON and Parquet files matched by path or glob."""

from connectors.files.connector import FilesConnector

CONNECTOR = FilesConnector

__all__ = ["CONNECTOR", "FilesConnector"]
