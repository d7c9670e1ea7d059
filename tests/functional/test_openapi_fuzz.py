"""Schemathesis against our own /openapi.json: no 5xx, no response that breaks the schema.

Driven by hand (operation by operation) rather than through schemathesis'
pytest plugin so that it runs inside our per-database app fixture.
"""

import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error, response_schema_conformance

from tests.conftest import ALICE


def test_the_api_never_answers_5xx_or_off_schema(app):
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 8
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck), database=None)
        def check(case):
            response = case.call(headers={"Authorization": f"Bearer {ALICE}"})
            case.validate_response(response, checks=[not_a_server_error, response_schema_conformance])

        check()
