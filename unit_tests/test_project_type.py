"""``readers/users/project_type.py``: the field list of a project against its configured type.

The email-based field list is a real getFields answer's own fields (2021, recorded by a public client's
tests); the hybrid one adds what Iterable documents for hybrid and userID-based projects."""

from __future__ import annotations

import pytest

from source_iterable.readers.users.project_type import project_type_warning

# Iterable's own fields in a real email-based project's answer (2021).
EMAIL_BASED = {
    "email": "string",
    "userId": "string",
    "emailListIds": "long",
    "unsubscribedChannelIds": "long",
    "signupDate": "date",
    "profileUpdatedAt": "date",
    "itblInternal.emailDomain": "string",
}
HYBRID = {**EMAIL_BASED, "userListIds": "long", "itblUserId": "string"}
USERID_BASED = {k: v for k, v in HYBRID.items() if k != "emailListIds"}


@pytest.mark.parametrize(
    "project_type,fields",
    [
        ("email_based", EMAIL_BASED),
        ("hybrid", HYBRID),
        ("userid_based", USERID_BASED),
        ("userid_based", HYBRID),
        ("hybrid", {"email": "string"}),  # no list field at all: nothing to go on
    ],
)
def test_a_field_list_that_fits_the_project_type_gives_no_warning(
    project_type: str, fields: dict[str, str]
) -> None:
    assert project_type_warning(project_type, fields) is None


@pytest.mark.parametrize(
    "fields,named",
    [
        (HYBRID, "itblUserId and userListIds"),
        ({**EMAIL_BASED, "userListIds": "long"}, "userListIds"),
        ({**EMAIL_BASED, "itblUserId": "string"}, "itblUserId"),
    ],
)
def test_hybrid_fields_in_an_email_based_config_are_named(fields: dict[str, str], named: str) -> None:
    # when the config says email_based and the fields say otherwise
    warning = project_type_warning("email_based", fields)

    # then the warning names what it saw and what to set
    assert warning is not None
    assert f"include {named}, which only hybrid and userID-based projects have" in warning
    assert "set project_type to hybrid or userid_based" in warning


@pytest.mark.parametrize("project_type", ["hybrid", "userid_based"])
def test_an_email_based_field_list_under_a_hybrid_or_userid_config_is_named(project_type: str) -> None:
    warning = project_type_warning(project_type, EMAIL_BASED)

    assert warning is not None
    assert warning.startswith(f"project_type is {project_type}, but the project's user fields")
    assert "include emailListIds and neither itblUserId nor userListIds" in warning
    assert "set project_type to email_based" in warning
