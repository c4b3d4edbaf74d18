"""The users stream's knowledge in one place.

- ``fields.py``: the project's field list (``GET /api/users/getFields``), asked once, never raising;
- ``schema.py``: pure; the users schema built from that list, the date fields to convert, warnings;
- ``project_type.py``: pure; whether the field list contradicts the configured project type;
- ``prelude.py``: the unit a sync reads the field list with before the first window;
- ``run.py``: the users export run, which counts the rows without the project type's key.
"""

from __future__ import annotations

from .prelude import UsersFields

__all__ = ["UsersFields"]
