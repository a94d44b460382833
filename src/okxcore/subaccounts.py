"""A master's sub-accounts, all of them: paging through users/subaccount/list, bounded.

OKX answers at most 100 sub-accounts per request, newest first, and pages by creation time: `after=<ms>` gives
those created strictly earlier. Two sub-accounts created in the same millisecond may straddle a page boundary,
so the next page asks for "earlier than the oldest one seen, plus 1 ms" and drops the ones already seen (by
name): nothing is skipped, at the cost of the boundary's entries coming twice. The listing ends as incomplete
(never looping) when a full page brings nothing new (OKX repeated a page, or more than a page of sub-accounts
share one millisecond), when a page gives no creation time to page on, or at the page cap.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from okxcore.models import SubAccount

SUBACCOUNT_PAGE = 100  # OKX's largest `limit` for users/subaccount/list (and its default)
# 2,000 sub-accounts: past OKX's own per-master limits for most accounts, and at the listing's 2 requests per
# 2 s (the older documented limit, which the client keeps to) about 22 s of listing.
MAX_SUBACCOUNT_PAGES = 20


@dataclass(frozen=True)
class SubAccountListing:
    accounts: tuple[SubAccount, ...]
    pages: int  # list requests answered
    stopped_early: str = ""  # why the listing ended before its last page ("" when it is complete)

    @property
    def complete(self) -> bool:
        return not self.stopped_early


def list_all_subaccounts(
    fetch_page: Callable[[Mapping[str, str]], list[SubAccount]], *, max_pages: int = MAX_SUBACCOUNT_PAGES
) -> SubAccountListing:
    """Every sub-account `fetch_page` (one users/subaccount/list request with these query parameters) yields."""
    seen: dict[str, SubAccount] = {}
    params = {"limit": str(SUBACCOUNT_PAGE)}
    pages = max(1, max_pages)
    for page_number in range(1, pages + 1):
        page = fetch_page(params)
        fresh = [sub for sub in page if sub.sub_acct not in seen]
        seen.update((sub.sub_acct, sub) for sub in fresh)
        if len(page) < SUBACCOUNT_PAGE:
            return SubAccountListing(tuple(seen.values()), page_number)
        oldest = min((sub.ts for sub in page if sub.ts is not None), default=None)
        if not fresh:
            return SubAccountListing(tuple(seen.values()), page_number, "OKX answered a full page with nothing new")
        if oldest is None:
            return SubAccountListing(tuple(seen.values()), page_number, "a full page gave no creation time to page on")
        params = {"limit": str(SUBACCOUNT_PAGE), "after": str(oldest + 1)}
    return SubAccountListing(tuple(seen.values()), pages, f"it reached the cap of {pages} page(s)")
