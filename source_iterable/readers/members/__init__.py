"""list_users: which lists are read how (``derive``, pure), the users export that gives the static
lists' members (``profiles``), one list through getUsers (``get_users``), and the stream's run (``run``)."""

from .run import ListMembersRun

__all__ = ["ListMembersRun"]
