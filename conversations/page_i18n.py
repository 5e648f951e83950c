"""The page's door to sentences shared with the API (issue 16, "Two languages").

The services' rules raise ``ValidationError`` with English sentences that the API sends as they
are (the contract's wording): each is marked with ``gettext_noop`` where it is written, with its
numbers and names as ``params`` (``"... the limit is %(limit)s"``), so that the API gets the
English text and the page can look the same sentence up in the catalogue and fill it in, in the
request's language. A sentence that is not in the catalogue is shown as it is.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import wraps
from typing import Any, TypeVar

from django.core.exceptions import ValidationError
from django.utils.translation import gettext

T = TypeVar("T")

# Params that hold a field's English name, marked for translation where it is given.
NAMED_FIELDS = frozenset({"what"})


def translated(text: str, params: Any = None) -> str:
    """``text`` (an English msgid) in the active language, its ``%(name)s`` placeholders filled from ``params``.

    The ``what`` param names a field and is looked up too ("Title" in "%(what)s cannot contain
    NUL characters"); other params (numbers, a model's name) are shown as they are.
    """
    message = gettext(str(text))
    if isinstance(params, dict) and params:
        values = {name: gettext(value) if name in NAMED_FIELDS else value for name, value in params.items()}
        try:
            return message % values
        except (KeyError, TypeError, ValueError):
            return str(text) % params  # a translation that lost a placeholder: the English sentence
    return message


def error_texts(exc: ValidationError) -> list[str]:
    """Every sentence of ``exc``, in the active language."""
    return [translated(error.message, error.params) for error in exc.error_list]


def error_text(exc: ValidationError) -> str:
    """The first sentence of ``exc``, in the active language (what the page shows)."""
    texts = error_texts(exc)
    return texts[0] if texts else ""


@contextmanager
def page_errors() -> Iterator[None]:
    """Re-raise a ``ValidationError`` raised inside with its sentences in the active language (a form's ``clean_*``)."""
    try:
        yield
    except ValidationError as exc:
        errors = [
            ValidationError(text, code=error.code) for text, error in zip(error_texts(exc), exc.error_list, strict=True)
        ]
        raise ValidationError(errors) from None


def translating(clean: Callable[..., T]) -> Callable[..., T]:
    """A form's ``clean_<field>`` whose shared (English) error sentences reach the page translated."""

    @wraps(clean)
    def wrapper(*args: Any, **kwargs: Any) -> T:
        with page_errors():
            return clean(*args, **kwargs)

    return wrapper
