"""Paged lists (`?page=&per_page=`): one set of bounds and one answer shape for every list route."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, Query


@dataclass(frozen=True)
class Page:
    """The page of a list the caller asked for (`number` from 1) and how many items a page holds."""

    number: int
    size: int

    @property
    def offset(self) -> int:
        """How many items come before this page."""
        return (self.number - 1) * self.size

    def answer(self, key: str, items: list[Any], total: int) -> dict[str, Any]:
        """A list route's body: `{<key>: items, total, page, per_page}`."""
        return {key: items, "total": total, "page": self.number, "per_page": self.size}


def page_query(
    page: Annotated[int, Query(ge=1, le=100_000)] = 1,
    per_page: Annotated[int, Query(ge=1, le=100)] = 20,
) -> Page:
    """Dependency: the `page` and `per_page` query parameters of a list route."""
    return Page(page, per_page)


Paging = Annotated[Page, Depends(page_query)]
