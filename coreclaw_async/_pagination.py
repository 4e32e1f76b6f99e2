"""Async iterators over paginated lists (runs, result rows, and on v2 Tasks, queue items, Workers).

Stop rules (the responses do not say "last page"): after page
``p`` of ``n`` items, stop when

* the page is empty, or
* it is short (``n < page_size``), or
* ``p * page_size >= count`` (when the server sent ``count``), or
* ``max_pages`` pages were fetched (a safety bound: logged, ``truncated`` set).

A server that ignores ``page_index`` answers every page with the first one again; a page
identical to the one before it is therefore dropped, logged as a warning, and ends the
iteration. Only the current page is held: the previous one is remembered as a digest.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Awaitable, Callable, Hashable, Sequence
from typing import Any, Generic, Protocol, TypeVar

from ._constants import LOGGER_NAME, ROW_ID_KEY
from ._json import dumps
from ._validation import require_int
from .models.runs import ResultHeader, ResultPage, Run, RunPage

__all__ = ["KeyedIterator", "PageIterator", "ResultIterator", "RunIterator"]

logger = logging.getLogger(LOGGER_NAME)

ItemT = TypeVar("ItemT")
PageT = TypeVar("PageT", bound="_Page[Any]")
ItemT_co = TypeVar("ItemT_co", covariant=True)


class _Page(Protocol[ItemT_co]):
    @property
    def count(self) -> int | None: ...

    @property
    def items(self) -> Sequence[ItemT_co]: ...


def check_page_args(page_size: int, max_pages: int) -> None:
    """Raise ``InvalidParameterError`` unless both are positive ints."""
    require_int("page_size", page_size, minimum=1)
    require_int("max_pages", max_pages, minimum=1)


class PageIterator(Generic[ItemT, PageT]):
    """Yields every item of a paginated list, one page fetched at a time.

    ``fetch(page_index)`` returns page ``page_index`` (1-based). The iterator is single-use
    (``__aiter__`` returns itself) and holds nothing between pages but a digest of the last
    one, so it needs no closing. Attributes describe progress: ``count`` (the total the server
    last reported), ``pages`` (pages fetched), ``truncated`` (stopped by ``max_pages``).
    """

    def __init__(
        self,
        fetch: Callable[[int], Awaitable[PageT]],
        *,
        page_size: int,
        max_pages: int,
        what: str,
    ) -> None:
        check_page_args(page_size, max_pages)
        self._fetch = fetch
        self._page_size = page_size
        self._max_pages = max_pages
        self._what = what
        self._next_index = 1
        self._items: Sequence[ItemT] = ()
        self._position = 0
        self._done = False
        self._last_digest: bytes | None = None
        self.count: int | None = None
        """Total items the server reported with the latest page (``None`` before the first)."""
        self.pages = 0
        """Pages fetched so far."""
        self.truncated = False
        """True if iteration stopped at ``max_pages`` although the server may have more."""

    def __aiter__(self) -> PageIterator[ItemT, PageT]:
        return self

    async def __anext__(self) -> ItemT:
        # Each round either returns an item, ends, or fetches a page; a page that brings
        # nothing new ends the iteration, so this loop runs at most twice.
        while True:
            if self._position < len(self._items):
                item = self._items[self._position]
                self._position += 1
                return item
            if self._done:
                raise StopAsyncIteration
            await self._next_page()

    @property
    def current_page(self) -> Sequence[ItemT]:
        """The items of the page being iterated (the only page held in memory)."""
        return self._items

    def _key(self, item: ItemT) -> Hashable:
        """What identifies ``item`` when comparing consecutive pages."""
        return repr(item)

    def _on_page(self, page: PageT) -> None:
        """Hook for subclasses: look at each page before its items are yielded."""

    def _digest(self, items: Sequence[ItemT]) -> bytes:
        digest = hashlib.blake2b(digest_size=16)
        for item in items:
            digest.update(repr(self._key(item)).encode())
            digest.update(b"\x00")
        return digest.digest()

    async def _next_page(self) -> None:
        if self.pages >= self._max_pages:
            self._done = True
            self.truncated = True
            logger.warning(
                "%s: stopped after max_pages=%d pages (%d per page); more may exist",
                self._what,
                self._max_pages,
                self._page_size,
            )
            return
        index = self._next_index
        # Drop the finished page before fetching the next, so two are never held at once.
        self._items = ()
        self._position = 0
        page = await self._fetch(index)
        self.pages += 1
        self._next_index = index + 1
        items = page.items
        if page.count is not None:
            self.count = page.count
        self._on_page(page)
        if not items:
            self._done = True
            if page.count and (index - 1) * self._page_size < page.count:
                # The server says more exist but sent none: its list key may not be ours.
                logger.warning(
                    "%s: page %d is empty but count=%d says it should not be; stopping",
                    self._what,
                    index,
                    page.count,
                )
            return
        digest = self._digest(items)
        if digest == self._last_digest:
            self._done = True
            logger.warning(
                "%s: page %d repeats page %d; the server seems to ignore page_index, stopping",
                self._what,
                index,
                index - 1,
            )
            return
        self._last_digest = digest
        self._items = items
        if len(items) < self._page_size or (page.count is not None and index * self._page_size >= page.count):
            self._done = True


class RunIterator(PageIterator[Run, RunPage]):
    """Every run of ``run/list`` across pages (``client.runs.list``)."""

    def _key(self, item: Run) -> Hashable:
        return item.run_slug


class ResultIterator(PageIterator[dict[str, Any], ResultPage]):
    """Every result row of a run across pages (``client.runs.results``).

    ``headers`` (the columns) is ``None`` until the first page has been fetched.
    """

    def __init__(
        self,
        fetch: Callable[[int], Awaitable[ResultPage]],
        *,
        page_size: int,
        max_pages: int,
        what: str,
    ) -> None:
        super().__init__(fetch, page_size=page_size, max_pages=max_pages, what=what)
        self.headers: tuple[ResultHeader, ...] | None = None
        """The result columns, from the first page that listed any."""

    def _key(self, item: dict[str, Any]) -> Hashable:
        row_id = item.get(ROW_ID_KEY)
        if isinstance(row_id, str):
            return row_id
        return dumps(item)

    def _on_page(self, page: ResultPage) -> None:
        if page.headers or self.headers is None:
            self.headers = page.headers


class KeyedIterator(PageIterator[ItemT, PageT]):
    """Every item of a paginated v2 list (Tasks, queue items, your Workers), told apart by ``key``."""

    def __init__(
        self,
        fetch: Callable[[int], Awaitable[PageT]],
        *,
        page_size: int,
        max_pages: int,
        what: str,
        key: Callable[[ItemT], Hashable],
    ) -> None:
        super().__init__(fetch, page_size=page_size, max_pages=max_pages, what=what)
        self._item_key = key

    def _key(self, item: ItemT) -> Hashable:
        return self._item_key(item)
