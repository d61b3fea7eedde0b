"""Admin set-up of a test ZenML server: users and a service account (subprocess only).

Usage: python _team_admin.py URL ADMIN_PASSWORD USER:PASSWORD ... [--service-account NAME]
Prints one JSON object: {"api_key": ...} (the service account's key, if asked for).
The admin password comes from the command line of this test helper only; ZenML's
credentials cache is off, so nothing is written to disk.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile


def main() -> None:
    # ZenML's client writes its configuration here; it goes when the helper ends.
    with tempfile.TemporaryDirectory(prefix="kitaru-team-admin-") as config_dir:
        _set_up(config_dir)


def _set_up(config_dir: str) -> None:
    url, admin_password, *rest = sys.argv[1:]
    service_account = None
    if "--service-account" in rest:
        i = rest.index("--service-account")
        service_account = rest[i + 1]
        rest = rest[:i] + rest[i + 2 :]
    os.environ.update(
        {
            "ZENML_CONFIG_PATH": config_dir,
            "ZENML_ANALYTICS_OPT_IN": "false",
            "DISABLE_CREDENTIALS_DISK_CACHING": "true",
            "ZENML_STORE_URL": url,
            "ZENML_STORE_USERNAME": "admin",
            "ZENML_STORE_PASSWORD": admin_password,
        }
    )
    from zenml.client import Client

    client = Client()
    for spec in rest:
        name, password = spec.split(":", 1)
        client.create_user(name, password=password, is_admin=False)
    out: dict[str, str] = {}
    if service_account:
        client.create_service_account(name=service_account)
        out["api_key"] = str(client.create_api_key(service_account, name="ci").key)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
