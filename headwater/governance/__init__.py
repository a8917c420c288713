"""Governance: schema drift, PII detection, profiling, freshness, monitoring."""
