"""Pure: does the project's field list (getFields) contradict the configured ``project_type``?

Iterable names the static-list field of a user ``emailListIds`` in email-based projects and
``userListIds`` in hybrid and userID-based ones, and gives users of those two types an internal
``itblUserId`` (help center, "Project Types and Unique Identifiers" and "User Profile Fields Used by
Iterable"); getFields lists the fields a project has (real email-based answers: ``emailListIds``, no
``userListIds``, no ``itblUserId``). A project's type never changes, so a contradiction is a config
mistake that would key ``users`` on the wrong field: ``check`` warns, and still passes, because the
field list is a hint (a field can exist without meaning the type), not proof.
"""

from __future__ import annotations

from .fields import UserFields

EMAIL_BASED = "email_based"
# Fields only hybrid and userID-based projects have.
NOT_EMAIL_BASED_FIELDS = ("itblUserId", "userListIds")
EMAIL_LIST_FIELD = "emailListIds"


def project_type_warning(project_type: str, fields: UserFields) -> str | None:
    """A warning for ``check`` when ``fields`` look like another project type; None when they agree
    (or say nothing either way)."""
    found = [name for name in NOT_EMAIL_BASED_FIELDS if name in fields]
    if project_type == EMAIL_BASED and found:
        return (
            f"project_type is email_based, but the project's user fields (GET /api/users/getFields) include "
            f"{' and '.join(found)}, which only hybrid and userID-based projects have: if the project is "
            "one of those, set project_type to hybrid or userid_based; as configured, users is keyed on "
            "email, which such projects do not require to be present or unique"
        )
    if project_type != EMAIL_BASED and not found and EMAIL_LIST_FIELD in fields:
        return (
            f"project_type is {project_type}, but the project's user fields (GET /api/users/getFields) "
            f"include {EMAIL_LIST_FIELD} and neither {' nor '.join(NOT_EMAIL_BASED_FIELDS)}, as an "
            "email-based project's do: if the project is email-based, set project_type to email_based; "
            "as configured, users is keyed on itblUserId, which an email-based project's users lack"
        )
    return None
