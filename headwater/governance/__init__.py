"""Governance: what Headwater watches after data lands.

- `columns`: the columns and types each load delivered (recorded while dlt extracts);
- `drift`: schema drift against an accepted baseline, and accepting it;
- `freshness`: whether each source's last successful sync is recent enough;
- `monitoring`: freshness, row-count changes and source-vs-warehouse reconciliation;
- `attention`: the sources someone should look at, each with its reasons.

PII detection and profiling live beside them (`pii*`, `profiling*`).
"""
