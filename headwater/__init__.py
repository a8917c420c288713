"""Headwater: a workflow-orchestrated data platform on Prefect, dlt, dbt and DuckLake."""

__version__ = "0.1.0"
