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


@schemathesis.hook
def before_call(context, case, kwargs):
    """The admin routes may suspend, rotate or delete any tenant the fuzzer finds in
    GET /v1/tenants; the one whose key the other operations use is spared (its id becomes an
    unknown one), so they keep reaching their handlers."""
    if case.operation.path.startswith("/v1/tenants/{id}") and case.path_parameters:
        if case.path_parameters.get("id") == os.environ.get("HOOKLINE_TENANT_ID"):
            case.path_parameters["id"] = UNKNOWN_TENANT
