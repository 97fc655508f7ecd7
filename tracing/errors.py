"""The one exception type the engine raises for bad user input.

`DataError` is a `ValueError` whose message is meant for the user as is: it names the file or
column at fault and says what to do. The CLI prints it on one line and exits with code 2; the app
shows it with ``st.error``. Programming errors stay ordinary exceptions.
"""

from __future__ import annotations

__all__ = ["DataError"]


class DataError(ValueError):
    """Bad input: a message that names the file/column and the fix."""
