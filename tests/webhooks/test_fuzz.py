"""Fuzz the HTTP surface against its own OpenAPI document: no 5xx, no unhandled error.

The token in the generated paths is random, except that half the cases use a real tenant's
token so the signature checks and parsers get exercised, not only the 404 path. A 503 is
not expected here: the store is up.
"""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck
from hypothesis import settings

schema = schemathesis.pytest.from_fixture("api_schema")


@pytest.fixture
def api_schema(edge):
    client, tokens = edge
    app = client.application
    loaded = schemathesis.openapi.from_wsgi("/openapi.json", app)
    real = tokens["acme"]

    @loaded.hook
    def map_path_parameters(context, path_parameters):
        if path_parameters and "token" in path_parameters and len(path_parameters["token"]) % 2:
            path_parameters["token"] = real
        return path_parameters

    return loaded


@schema.parametrize()
@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
def test_no_server_errors(case):
    response = case.call()
    assert response.status_code < 500, (case.path, response.status_code, response.text[:200])
