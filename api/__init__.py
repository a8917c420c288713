"""Headwater's REST API: FastAPI over the core, starting work only through Prefect."""
