"""The API against its own OpenAPI document, with requests Schemathesis generates from that document.

For every operation, a bounded number of generated requests (valid and invalid) over real HTTP with a
bearer token: no answer is a 5xx, every status code is documented for the operation, and every body
matches the schema documented for that status.
"""
from __future__ import annotations

import itertools

import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (content_type_conformance, response_headers_conformance,
                                               response_schema_conformance, status_code_conformance)

from portal.extensions import db
from portal.invoices import service
from portal.models import ApiToken, Invoice

# Per operation and mode (valid, invalid): enough to reach each operation's edges (ids past the
# column, bad pages, odd bodies) while the whole API takes well under two minutes on a busy machine.
EXAMPLES = 15
FUZZ = settings(max_examples=EXAMPLES, deadline=None, database=None, derandomize=True,
                phases=[Phase.explicit, Phase.generate], report_multiple_bugs=False,
                suppress_health_check=list(HealthCheck))

# What the document promises about answers. Not Schemathesis's data-acceptance checks: rules across
# fields (a total above zero, a currency's decimals) cannot be written in JSON Schema, so a schema-valid
# body may rightly get 422, and the API takes the HTML form's spellings too (quantity "2").
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_headers_conformance,
          response_schema_conformance]


def _bearer(user) -> dict:
    row, plain = ApiToken.issue(user)
    db.session.add(row)
    db.session.commit()
    return {"Authorization": f"Bearer {plain}"}


def test_api_answers_as_its_openapi_document_says(pay_app, live_server, staff, make_invoice):
    make_invoice()  # something to list
    # Operations on one invoice also run on these, not only on ids nobody has.
    known = [make_invoice(open_it=True).id, make_invoice(open_it=True).id]
    service.void_invoice(db.session.get(Invoice, known[1]), staff)
    headers = _bearer(staff)
    base_url = live_server + "/api/v1"
    schema = schemathesis.openapi.from_url(base_url + "/openapi.json")
    failures, operations = [], 0
    for result in schema.get_all_operations():
        operation = result.ok()
        operations += 1
        fixed_ids = [None] + ([{"id": id_} for id_ in known] if "{id}" in operation.path else [])
        for mode, path_parameters in itertools.product((GenerationMode.POSITIVE, GenerationMode.NEGATIVE), fixed_ids):
            @FUZZ
            @given(case=operation.as_strategy(generation_mode=mode, path_parameters=path_parameters))
            def check(case):
                case.call_and_validate(base_url=base_url, headers=headers, checks=CHECKS)

            try:
                check()
            except Exception as exc:  # noqa: BLE001 (one report for every operation, not the first only)
                failures.append(f"{operation.label} ({mode.value}, {path_parameters or 'any id'}):\n{exc}")
    assert operations >= 9, operations
    assert not failures, "\n\n".join(failures)
