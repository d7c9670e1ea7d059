"""Schemathesis against our own /openapi.json, on both databases, with a fixed seed and budget.

Every response check that can hold for this API runs: no 5xx, documented status
codes, content types and headers, responses that match their schemas, missing
required headers refused, and schema-invalid input refused (negative data).
``positive_data_acceptance`` does not run: some rules cannot be written in an
OpenAPI schema (unhealthy_ratio >= ailing_ratio, instants between 1970 and 2999,
no NUL in text, an opaque cursor), so schema-valid input is sometimes rightly a 422.

Driven by hand (operation by operation) rather than through schemathesis' pytest
plugin so that it runs inside our per-database app fixture.
"""

import schemathesis
from hypothesis import HealthCheck, given, seed, settings
from schemathesis import checks

from tests.conftest import ALICE

CHECKS = [
    checks.not_a_server_error,
    checks.status_code_conformance,
    checks.content_type_conformance,
    checks.response_headers_conformance,
    checks.response_schema_conformance,
    checks.negative_data_rejection,
    checks.missing_required_header,
]
EXAMPLES = 25  # per operation: about 600 cases per database


def test_the_api_never_answers_5xx_or_off_schema(app):
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 20
    cases = 0
    for operation in operations:

        @seed(20261202)
        @given(case=operation.as_strategy())
        @settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), database=None)
        def check(case):
            nonlocal cases
            cases += 1
            response = case.call(headers={"Authorization": f"Bearer {ALICE}"})
            case.validate_response(response, checks=CHECKS)

        check()
    assert cases >= len(operations) * 5
    print(f"schemathesis: {cases} cases over {len(operations)} operations, 0 failures")
