"""Test-only access control for a ZenML server: nobody may read secret values.

Loaded by the server through ``ZENML_SERVER_RBAC_IMPLEMENTATION_SOURCE=
kitaru_test_rbac.DenySecretValuesRBAC`` (this directory on the server's
PYTHONPATH). Every action is allowed except ``READ_SECRET_VALUE``; ZenML still
lets the owner of a secret read it. A reader who is not the owner then gets the
secret with each value set to ``None``, as from a ZenML Pro server where the
user lacks read permission on the values.
"""

from __future__ import annotations

from typing import Any

from zenml.zen_server.rbac.models import Action
from zenml.zen_server.rbac.rbac_interface import RBACInterface


class DenySecretValuesRBAC(RBACInterface):
    """Allow everything except reading secret values."""

    def check_permissions(self, user: Any, resources: Any, action: Action) -> dict[Any, bool]:
        allowed = action != Action.READ_SECRET_VALUE
        return {resource: allowed for resource in resources}

    def list_allowed_resource_ids(
        self, user: Any, resource: Any, action: Action
    ) -> tuple[bool, list[str]]:
        if action == Action.READ_SECRET_VALUE:
            return False, []
        return True, []

    def update_resource_membership(
        self,
        sharing_user: Any,
        resource: Any,
        actions: Any,
        user_id: Any = None,
        team_id: Any = None,
    ) -> None:
        return None

    def delete_resources(self, resources: Any) -> None:
        return None
