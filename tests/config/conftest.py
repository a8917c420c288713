"""Fixtures of the config tests: a project.yml that uses every section."""

from __future__ import annotations

import pytest

_FULL_EXAMPLE = """
project:
  name: shop
  description: Orders, customers and the web shop API
warehouse:
  catalog:
    type: sqlite
    path: .headwater/warehouse/catalog.sqlite
  data_path: .headwater/warehouse/data
  snapshot_retention_days: 14
  write_lock_timeout_seconds: 120
prefect:
  server_host: 127.0.0.1
  server_port: 4201
  home: .headwater/prefect
sources:
  orders:
    type: files
    description: Daily order exports
    write_disposition: merge
    tables:
      orders:
        path: data/orders_*.csv
        primary_key: [order_id]
        delimiter: ";"
      events:
        path: data/events.jsonl
        format: jsonl
        write_disposition: append
  crm:
    type: sql
    url: postgresql://app@db:5432/crm
    password_env: CRM_PASSWORD
    schema: sales
    backend: connectorx
    chunk_size: 50000
    tables:
      customers:
        write_disposition: merge
        incremental:
          cursor: updated_at
          initial_value: 2024-01-01
  shop:
    type: rest_api
    base_url: https://api.example.com/v1/
    auth:
      type: api_key
      name: X-Token
      location: query
      key_env: SHOP_KEY
    headers:
      Accept: application/json
    paginator:
      type: page_number
      page_param: page
      base_page: 1
    resources:
      products:
        path: products
        params: {active: true}
        data_selector: data.items
        incremental:
          cursor_path: updated_at
          param: since
          initial_value: "2024-01-01T00:00:00Z"
schedules:
  nightly:
    sources: [orders, crm, shop]
    cron: "0 6 * * *"
    timezone: Europe/Berlin
consoles:
  revenue:
    sql: select sum(amount) from raw_orders.orders
    description: Revenue to date
  churn:
    file: consoles/churn.sql
notifications:
  enabled: false
governance:
  drift_checks: true
auth:
  max_failed_logins: 3
  lockout_minutes: 30
  require_2fa: true
api:
  host: 0.0.0.0
  port: 8801
"""


@pytest.fixture
def full_example() -> str:
    """A valid project.yml that sets every section and every source type."""
    return _FULL_EXAMPLE
