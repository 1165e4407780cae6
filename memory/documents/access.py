"""Who may read, publish, replace and restore documents.

- *Read*: the document's ACL is one of the principal's scopes (``Principal.scopes``).
- *Publish at an ACL*: the ACL is one of the principal's scopes, and ``public`` additionally needs the
  publisher group (``LIBROMIND_PUBLISH_GROUP``, default ``docs``: ``employee:ana:docs``).
- *Replace* (upload under an existing source, or restore a version): read the document and publish at
  its current ACL, and publish at the new ACL.

Refusals never reveal a document the caller cannot read: a hidden document is "not found".
"""

from __future__ import annotations

from typing import Any

from memory.principals import Principal

__all__ = ["can_read", "can_publish", "check_publish", "check_replace", "AccessDenied"]


class AccessDenied(Exception):
    """Refused; ``message`` is safe to show (it names no document the caller cannot read)."""

    def __init__(self, message: str, *, hidden: bool = False) -> None:
        super().__init__(message)
        self.message = message
        self.hidden = hidden  # True: answer as if the document did not exist


def can_read(principal: Principal, acl: str) -> bool:
    return acl in principal.scopes


def can_publish(principal: Principal, acl: str, publish_group: str) -> bool:
    if acl not in principal.scopes:
        return False
    return acl != "public" or principal.can(publish_group)


def check_publish(principal: Principal, acl: str, publish_group: str) -> None:
    """Raise :class:`AccessDenied` unless ``principal`` may publish a document at ``acl``."""
    if can_publish(principal, acl, publish_group):
        return
    if acl == "public":
        raise AccessDenied(
            f"Only members of the '{publish_group}' group may publish public documents; "
            "upload it as internal (or one of your groups) and ask a publisher."
        )
    raise AccessDenied(
        f"You can only upload documents with an ACL you can read ({', '.join(principal.scopes)})."
    )


def check_replace(principal: Principal, existing: dict[str, Any], new_acl: str, publish_group: str) -> None:
    """Raise :class:`AccessDenied` unless ``principal`` may replace ``existing`` with a version at ``new_acl``."""
    if not can_read(principal, existing["acl"]):
        raise AccessDenied(
            "A document you cannot read already uses this source; choose another source.", hidden=True
        )
    if not can_publish(principal, existing["acl"], publish_group):
        raise AccessDenied(
            f"This document is {existing['acl']}: only members of the '{publish_group}' group may replace it."
        )
    check_publish(principal, new_acl, publish_group)
