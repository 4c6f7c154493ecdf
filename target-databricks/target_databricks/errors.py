"""The target's error tree: one base, and a branch for failures only the user can fix.

A `UserError` is terminal: the settings, the input or the workspace's setup must change before a
rerun can succeed. Its message is the whole report (what, where, what to do) and the command line
prints it as one ERROR line; anything else is a bug and keeps its traceback.
"""

from __future__ import annotations


class TargetDatabricksError(Exception):
    """Base of every error the target raises on purpose."""


class UserError(TargetDatabricksError):
    """Terminal: the message names the thing to fix; retrying unchanged fails the same way."""


class SettingsError(UserError):
    """A setting is missing, malformed or names something that cannot exist."""


class InputError(UserError):
    """A Singer message or value the target cannot hold; names stream, line (or file and row), value."""
