"""A postgres_cdc source over the API: its sync trigger targets the CDC deployment."""

from __future__ import annotations

from typing import Any

import pytest

from tests.api.conftest import api_client, create_key, running_app, set_up_admin

pytestmark = pytest.mark.anyio


async def test_cdc_sync_targets_the_cdc_deployment_and_refuses_sync_options(
    make_project: Any, prefect_api: str
) -> None:
    project = make_project(
        """
        project: {name: api_cdc}
        sources:
          shop:
            type: postgres_cdc
            url: postgresql://postgres@127.0.0.1:5432/test
        """
    )
    async with running_app(project) as app, api_client(app) as http:
        await set_up_admin(http)
        headers = {"Authorization": f"Bearer {await create_key(http)}"}
        http.cookies.clear()
        refused = await http.post(
            "/api/sources/shop/sync", json={"tables": ["orders"]}, headers=headers
        )
        plain = await http.post("/api/sources/shop/sync", headers=headers)
    assert refused.status_code == 400, refused.text
    assert refused.json()["code"] == "cdc_source"
    assert "headwater cdc resync shop" in refused.json()["detail"]
    # Nothing serves it in this test: the answer names the deployment a sync would start.
    assert plain.status_code == 503, plain.text
    assert "cdc_sync/cdc-shop" in plain.json()["detail"]
