"""One shape for every sorted, searchable list page: its rows by keyset, its sort headers, and
its totals and page position in a separate HTMX fragment (so the list's own query stays one
indexed read). The invoice and credit-note pages are two instances of :class:`ListView`.

A page's rows fragment (``templates/_list.html`` macros) carries:

* the headers, each a link to the list sorted by that column (``aria-sort`` on the sorted one);
* a hidden ``sort`` input bound to the filter form (``form=``), so a filter change keeps it;
* the summary slot, which loads ``summary_endpoint`` with the same query string once the rows
  are on the page (``hx-trigger="load"``) and again on the list's change events.
"""
from dataclasses import dataclass, field
from typing import Callable

from flask import render_template, request

from .auth import current_actor
from .errors import ValidationError
from .htmx import render_page_or_fragment
from .services.paging import (KeysetPage, Sorts, keyset_page, next_path, pager_links,
                              parse_list_args, position)


@dataclass(frozen=True)
class ListView:
    endpoint: str  # "invoices.index"
    summary_endpoint: str  # "invoices.summary"
    page_template: str
    rows_template: str
    sorts: Sorts
    query: Callable  # (user, **filters) -> Select of the rows the user may see, filtered
    totals: Callable  # (that Select, keyset, cursor) -> paging.Totals, in one aggregate
    filters: Callable  # (user) -> {name: value} from request.args
    noun: tuple[str, str]  # ("invoice", "invoices")
    sums: tuple = ()  # (name, label) of the Totals sums, in the order they read
    events: tuple = field(default=())  # HX-Trigger events that refresh the summary

    def render(self, **context):
        """The page (or, for HTMX, its rows fragment): 422 with the messages for bad input."""
        user = current_actor()
        errors, found, sort, filters = {}, KeysetPage([], None, None), self.sorts.default, {}
        try:
            filters = self.filters(user)
            args = parse_list_args(request.args, self.sorts)
            sort = args.sort
            found = keyset_page(self.query(user, **filters), args.keyset, args.cursor, args.page,
                                args.per_page)
        except ValidationError as exc:
            errors = exc.fields
            if "sort" not in errors:
                sort = request.args.get("sort") or sort
        return render_page_or_fragment(
            self.page_template, self.rows_template, status=422 if errors else 200,
            rows=found.rows, errors=errors, filters=filters, listing=self,
            sort=self.sorts.state(sort if sort in self.sorts.choices else self.sorts.default),
            summary_url=None if errors else next_path(self.summary_endpoint),
            **pager_links(self.endpoint, found), **context)

    def summary(self):
        """"1,234 invoices · 3,456.78 AUD total · 120.00 due · 51–100 of 1,234 · page 2 of 25"
        for what the filters select, and where the page asked for sits in it."""
        user = current_actor()
        try:
            args = parse_list_args(request.args, self.sorts)
            query = self.query(user, **self.filters(user))
            found = self.totals(query, args.keyset, args.cursor)
            where = position(found, args.cursor, args.page, args.per_page)
        except ValidationError as exc:
            return render_template("_list_summary.html", errors=exc.fields, listing=self), 422
        return render_template("_list_summary.html", totals=found, where=where, listing=self,
                               errors={})
