"""The one exception type the engine raises for bad user input.

`DataError` is a `ValueError` whose message is meant for the user as is: it names the file or
column at fault and says what to do. The CLI prints it on one line and exits with code 2; the app
shows it with ``st.error``. Programming errors stay ordinary exceptions.

An error may say what it is about, so the app can put it next to the right picker: ``role`` (a
`tracing.schema.ColumnRoles` field such as ``"actual_label"``) or ``option`` (an option name such
as ``"threshold"``). ``app_message`` is the same message in the app's words (the CLI's message
names its flags, ``--actual``; the app's names the picker). Several problems found at once travel
together: `DataError.combine` makes one error of them, and `DataError.each` takes them apart.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

__all__ = ["DataError"]


class DataError(ValueError):
    """Bad input: a message that names the file/column and the fix.

    Parameters
    ----------
    message : str
        The message, ``str(exc)``.
    role : str, optional
        The column role it is about (a `tracing.schema.ColumnRoles` field).
    option : str, optional
        The option it is about (``"threshold"``, ``"model_type"``...).
    app_message : str, optional
        The message in the app's words, without CLI flags (default: ``message``).
    problems : sequence of DataError, optional
        The single problems, when this error reports several at once.

    Examples
    --------
    >>> exc = DataError("no actual column; use --actual.", role="actual_label")
    >>> str(exc), exc.role, isinstance(exc, ValueError)
    ('no actual column; use --actual.', 'actual_label', True)
    """

    def __init__(
        self,
        message: str = "",
        *,
        role: str | None = None,
        option: str | None = None,
        app_message: str | None = None,
        problems: Sequence[DataError] = (),
    ) -> None:
        super().__init__(message)
        self.message = message
        self.role = role
        self.option = option
        self.app_message = app_message if app_message is not None else message
        self.problems: tuple[DataError, ...] = tuple(problems)

    def __reduce__(self) -> tuple[Any, ...]:
        # Keyword fields survive pickling (caches and worker processes copy exceptions).
        return (_rebuild, (self.message, self.role, self.option, self.app_message, self.problems))

    def each(self) -> tuple[DataError, ...]:
        """Return the single problems this error reports (itself when it is one)."""
        return self.problems or (self,)

    @classmethod
    def combine(cls, problems: Sequence[DataError]) -> DataError:
        """Return one error reporting every problem (the problem itself when there is one).

        Examples
        --------
        >>> both = DataError.combine([DataError("a.", role="x"), DataError("b.", role="y")])
        >>> str(both), [p.role for p in both.each()]
        ('2 problems: a. b.', ['x', 'y'])
        """
        if not problems:
            raise ValueError("combine needs at least one problem")
        if len(problems) == 1:
            return problems[0]
        return cls(
            f"{len(problems)} problems: " + " ".join(p.message for p in problems),
            app_message=" ".join(p.app_message for p in problems),
            problems=problems,
        )


def _rebuild(
    message: str,
    role: str | None,
    option: str | None,
    app_message: str,
    problems: tuple[DataError, ...],
) -> DataError:
    return DataError(message, role=role, option=option, app_message=app_message, problems=problems)
