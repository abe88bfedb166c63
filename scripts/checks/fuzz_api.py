"""`make fuzz-api`: schemathesis against a local Hookline (run inside scripts/with-hookline).

Creates a tenant through the admin token, then runs every operation of GET /openapi.json, all
methods, through schemathesis's phases (examples, coverage, fuzzing, stateful with the
document's links), each operation with the credential its `security` names. Fails on a 5xx
or on a response that does not conform to the document (status, content type, headers,
schema). Hookline runs in loopback-only egress mode, so the endpoints and test sends the
fuzzer makes up can only reach 127.0.0.0/8.
"""

import json
import os
import subprocess
import sys
import urllib.request

CHECKS = [
    "not_a_server_error",
    "status_code_conformance",
    "content_type_conformance",
    "response_headers_conformance",
    "response_schema_conformance",
]


def create_tenant(url: str, admin_token: str) -> dict:
    request = urllib.request.Request(
        f"{url}/v1/tenants",
        data=json.dumps({"name": "schemathesis"}).encode(),
        headers={"authorization": f"Bearer {admin_token}", "content-type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.load(response)


def main() -> int:
    url = os.environ["HOOKLINE_URL"]
    env = dict(os.environ)
    tenant = create_tenant(url, env["HOOKLINE_ADMIN_TOKEN"])
    env["HOOKLINE_API_KEY"] = tenant["api_key"]
    env["HOOKLINE_TENANT_ID"] = tenant["id"]
    here = os.path.dirname(os.path.abspath(__file__))
    env["PYTHONPATH"] = here + os.pathsep + env.get("PYTHONPATH", "")
    env["SCHEMATHESIS_HOOKS"] = "schemathesis_hooks"
    report = os.environ.get("FUZZ_REPORT_DIR", "target/schemathesis")
    command = [
        os.path.join(os.path.dirname(sys.executable), "schemathesis"),
        "--config-file",
        os.path.join(here, "schemathesis.toml"),
        "run",
        f"{url}/openapi.json",
        "--url",
        url,
        "--checks",
        ",".join(CHECKS),
        "--phases",
        "examples,coverage,fuzzing,stateful",
        # Bounded: a few minutes on two shared cores. FUZZ_EXAMPLES raises it for a longer hunt.
        "--max-examples",
        os.environ.get("FUZZ_EXAMPLES", "10"),
        "--seed",
        os.environ.get("FUZZ_SEED", "13"),
        # One worker: with two, hypothesis's lambda-source cache raced ("AST constructor
        # recursion depth mismatch") and failed an operation with a runtime error.
        "--workers",
        "1",
        "--request-timeout",
        "30",
        "--report",
        "junit",
        "--report-dir",
        report,
        "--suppress-health-check",
        "too_slow,filter_too_much",
    ]
    return subprocess.call(command, env=env)


if __name__ == "__main__":
    sys.exit(main())
