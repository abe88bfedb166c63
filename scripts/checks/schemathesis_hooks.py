"""Schemathesis hooks for `make fuzz-api`: each operation gets the credential its `security`
names (the admin token for tenant administration, the tenant's API key elsewhere), read from
HOOKLINE_ADMIN_TOKEN and HOOKLINE_API_KEY."""

import os

import schemathesis


@schemathesis.auth()
class HooklineAuth:
    def get(self, case, ctx):
        return {"adminToken": os.environ["HOOKLINE_ADMIN_TOKEN"], "apiKey": os.environ["HOOKLINE_API_KEY"]}

    def set(self, case, data, ctx):
        security = case.operation.definition.raw.get("security")
        if security is None:
            security = case.operation.schema.raw_schema.get("security", [])
        for requirement in security:
            for scheme in requirement:
                if scheme in data:
                    case.headers = case.headers or {}
                    case.headers["Authorization"] = f"Bearer {data[scheme]}"
                    return


# An id of the right shape that names no tenant.
UNKNOWN_TENANT = "ten_00000000000000000000000000"

# The most events a fuzzed batch sends (see `before_call`).
MAX_FUZZED_BATCH = 10


@schemathesis.hook
def before_call(context, case, kwargs):
    """The admin routes may suspend, rotate or delete any tenant the fuzzer finds in
    GET /v1/tenants; the one whose key the other operations use is spared (its id becomes an
    unknown one), so they keep reaching their handlers."""
    if case.operation.path.startswith("/v1/tenants/{id}") and case.path_parameters:
        if case.path_parameters.get("id") == os.environ.get("HOOKLINE_TENANT_ID"):
            case.path_parameters["id"] = UNKNOWN_TENANT
    # A batch of up to 100 events fans out to every endpoint the fuzzer has created; against
    # moto's ~120 SQS sends a second a full one outlasts the request timeout. Ten keep the
    # operation's paths covered; tests/tests/batch.rs checks the limit of 100 itself.
    if case.operation.path == "/v1/events/batch" and isinstance(case.body, dict):
        events = case.body.get("events")
        if isinstance(events, list) and len(events) > MAX_FUZZED_BATCH:
            case.body["events"] = events[:MAX_FUZZED_BATCH]

