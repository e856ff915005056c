"""Widgets every page shares: the sidebar filter bar (kept in the URL), the KPI card row, tables with
units, the audited CSV download, empty states and chart/row drill-downs."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import date
from typing import Any

import pandas as pd
import streamlit as st

from analytics.filters import Filters as AnalyticsFilters
from analytics.success import Kpis, Outcome
from dashboard import charts, exports, queries
from dashboard.auth import SignedInUser
from dashboard.filters import (
    ALL,
    EARLIEST_DAY,
    PRESETS,
    QUERY_KEYS,
    Comparison,
    FilterState,
    default_filters,
    preset_days,
    restore_filters,
)
from dashboard.format import (
    IST,
    count,
    count_forms,
    country_name,
    fits_card,
    ist,
    mask_email,
    mask_phone,
    money,
    money_forms,
    plain,
    razorpay_payment_url,
    today_ist,
)
from dashboard.labels import bank_name, header, method_label, reason_text, upi_app
from dashboard.roles import sees_contact_details

_SAVED_FILTERS = "payops_filters"
_URL_NOTES = "payops_filter_url_notes"  # (the filters a link restored, notes on what was clamped/ignored)
_KEYS = {"preset": "filter_period", "dates": "filter_dates", "currency": "filter_currency"}
_KEYS |= {"method": "filter_method", "country": "filter_country"}

IST_DATETIME_FORMAT = "D MMM YYYY, HH:mm [IST]"
ANY = "(any)"

# --- filters ---------------------------------------------------------------------------------------


def _restore_widget_state(today: date, options: Mapping[str, Sequence[str]]) -> None:
    """First load: take the URL's filters (keeping notes on values clamped or ignored); later pages: the
    last filters used. Widgets read this state."""
    for key in _KEYS.values():
        if key in st.session_state:
            # Re-assigning turns widget state into session state, which survives a page switch
            # (a widget's own state is dropped when the page that drew it is left).
            st.session_state[key] = st.session_state[key]
    if all(key in st.session_state for key in (_KEYS["preset"], _KEYS["currency"])):
        return
    query = {key: st.query_params.get_all(key) for key in QUERY_KEYS if key in st.query_params}
    from_url, notes = restore_filters(query, today)
    filters = from_url or st.session_state.get(_SAVED_FILTERS) or default_filters(today)
    st.session_state[_URL_NOTES] = (filters, notes)
    st.session_state[_KEYS["preset"]] = filters.preset
    st.session_state[_KEYS["dates"]] = (filters.first_day, filters.last_day)
    currencies = [ALL, *options.get("currency", [])]
    st.session_state[_KEYS["currency"]] = filters.currency if filters.currency in currencies else ALL
    methods = [ANY, *options.get("method", [])]
    st.session_state[_KEYS["method"]] = filters.method if filters.method in methods else ANY
    countries = [ANY, *options.get("country", [])]
    st.session_state[_KEYS["country"]] = filters.country if filters.country in countries else ANY


def _write_url(filters: FilterState) -> None:
    wanted = filters.to_query()
    for key in QUERY_KEYS:
        if key not in wanted and key in st.query_params:
            del st.query_params[key]
    for key, value in wanted.items():
        if st.query_params.get_all(key) != ([value] if isinstance(value, str) else value):
            st.query_params[key] = value


def filter_bar(*, currency: bool = True, method: bool = True, country: bool = True) -> FilterState:
    """Sidebar filters: period (IST days, with presets), currency, method, country. Mirrored in the URL,
    so a copied link opens the same view."""
    today = today_ist()
    options = queries.filter_options()
    _restore_widget_state(today, options)
    with st.sidebar:
        st.subheader("Filters")
        notes_place = st.container()
        preset = st.selectbox("Period", list(PRESETS), format_func=PRESETS.__getitem__, key=_KEYS["preset"])
        if preset == "custom":
            picked = st.date_input(
                "Dates (IST)",
                key=_KEYS["dates"],
                min_value=EARLIEST_DAY,
                max_value=today,
                format="DD/MM/YYYY",
            )
            days = [d for d in (picked if isinstance(picked, tuple) else (picked,)) if isinstance(d, date)]
            first, last = (days[0], days[-1]) if days else preset_days("last_7_days", today)
        else:
            first, last = preset_days(preset, today)
            st.session_state[_KEYS["dates"]] = (first, last)
        st.caption(f"{first:%d %b %Y} – {last:%d %b %Y}, IST days")
        chosen_currency = ALL
        if currency:
            chosen_currency = st.selectbox(
                "Currency",
                [ALL, *options["currency"]],
                format_func=lambda c: "All currencies (counts only)" if c == ALL else c,
                key=_KEYS["currency"],
                help="Money is never added across currencies; amounts are shown per currency.",
            )
        chosen_method = (
            # The option (and the URL's ?method=) stays the code; people read the method's name.
            st.selectbox(
                "Method",
                [ANY, *options["method"]],
                format_func=lambda m: m if m == ANY else method_label(m),
                key=_KEYS["method"],
            )
            if method
            else ANY
        )
        chosen_country = (
            st.selectbox(
                "Country",
                [ANY, *options["country"]],
                format_func=lambda c: c if c == ANY else f"{country_name(c)} ({c})",
                key=_KEYS["country"],
            )
            if country
            else ANY
        )
    filters = FilterState(
        first_day=first,
        last_day=last,
        currency=chosen_currency,
        method=None if chosen_method == ANY else chosen_method,
        country=None if chosen_country == ANY else chosen_country,
        preset=preset,
    )
    st.session_state[_SAVED_FILTERS] = filters
    # Notes on what a link asked for and did not get stay up, page to page, until the filters change.
    restored, notes = st.session_state.get(_URL_NOTES, (None, []))
    for note in notes if restored == filters else []:
        notes_place.warning(note, icon=":material/link:")
    _write_url(filters)
    return filters


def comparison(filters: FilterState) -> Comparison:
    """What this period is fairly compared with (see FilterState.comparison); every page's deltas use it."""
    return filters.comparison(today_ist(), queries.first_payment_day())


def previous_kpis(compared: Comparison) -> Kpis | None:
    """The previous period's headline figures, or None when there is no fair comparison."""
    if compared.previous is None:
        return None
    return queries.kpis(compared.previous.to_analytics(), compare_previous=False)


def success_trend(filters: FilterState, compared: Comparison, *, key: str) -> None:
    """The day-by-day success rate, with the previous period dashed over it when it is comparable."""
    previous = (
        queries.success_rates("day", compared.previous.to_analytics())
        if compared.previous is not None
        else pd.DataFrame()
    )
    figure = charts.success_trend(
        queries.success_rates("day", filters.to_analytics()), previous, shift_days=filters.days
    )
    st.plotly_chart(figure, key=key)


def group_by_upi_app(by_handle: pd.DataFrame) -> pd.DataFrame:
    """Success rates per UPI handle summed per issuing app (dashboard/labels.py), busiest app first."""
    grouped = (
        by_handle.assign(upi_app_name=[upi_app(h) for h in by_handle["upi_app"]])
        .groupby("upi_app_name", as_index=False)[["attempts", "successes", "failures"]]
        .sum()
    )
    grouped["success_rate"] = [
        s / a if a else None for s, a in zip(grouped["successes"], grouped["attempts"], strict=True)
    ]
    return grouped.sort_values("attempts", ascending=False).reset_index(drop=True)


# --- KPI cards -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Kpi:
    label: str
    value: str
    delta: str | None = None
    help: str | None = None
    delta_color: str = "normal"  # "inverse" when up is bad (failures, lag)
    # Shorter forms of `value`, most exact first, for a card too narrow for it (`₹1.61 Cr` for
    # `₹1,61,33,412.50`); the card then says the exact value in its help.
    shorter: tuple[str, ...] = ()


def money_kpi(
    label: str, minor: int, currency: str, *, help: str | None = None, delta: str | None = None
) -> Kpi:
    """A money card whose value always fits: the exact figure where it fits, else lakh/crore (or K/M)
    with the exact figure in the card's help."""
    exact, *shorter = money_forms(minor, currency)
    return Kpi(label, exact, delta=delta, help=help, shorter=tuple(shorter))


def count_kpi(
    label: str, value: int, *, help: str | None = None, delta: str | None = None, delta_color: str = "normal"
) -> Kpi:
    """A count card that always fits: Indian grouping where it fits, else lakh/crore."""
    exact, *shorter = count_forms(value)
    return Kpi(label, exact, delta=delta, help=help, delta_color=delta_color, shorter=tuple(shorter))


def fitted(card: Kpi, cards_in_row: int) -> Kpi:
    """The card as it is shown `cards_in_row` to a row: its value, or the most exact shorter form that
    fits (the exact value then in the help), or the shortest there is."""
    if fits_card(card.value, cards_in_row) or not card.shorter:
        return card
    shown = next((form for form in card.shorter if fits_card(form, cards_in_row)), card.shorter[-1])
    exact = f"Exactly {card.value}."
    return replace(card, value=shown, help=f"{exact} {card.help}" if card.help else exact, shorter=())


def kpi_row(cards: Sequence[Kpi]) -> None:
    """Metric cards, at most four to a row (six become two rows of three) so values are never cut off."""
    rows = -(-len(cards) // 4)
    per_row = -(-len(cards) // rows) if rows else 0
    for start in range(0, len(cards), per_row or 1):
        _kpi_cards(cards[start : start + per_row])


def _kpi_cards(cards: Sequence[Kpi]) -> None:
    for column, card in zip(st.columns(len(cards)), cards, strict=True):
        card = fitted(card, len(cards))
        if not fits_card(card.value, len(cards)):
            # Words (a reason, a status) that no metric card holds: a bordered card that wraps them.
            _text_card(column, card)
            continue
        column.metric(
            card.label,
            card.value,
            delta=card.delta,
            help=card.help,
            border=True,
            delta_color="inverse" if card.delta_color == "inverse" else "normal",
        )


def _text_card(column: Any, card: Kpi) -> None:
    with column.container(border=True):
        st.caption(card.label, help=card.help)
        st.markdown(f"#### {plain(card.value)}")
        if card.delta:
            st.caption(plain(card.delta))


# --- empty states ----------------------------------------------------------------------------------


def empty_state(what: str, next_step: str) -> None:
    """Say that there is nothing yet, and what to do about it."""
    st.info(f"{what}\n\n**Next step:** {next_step}", icon=":material/info:")


NO_PAYMENTS_NEXT_STEP = "Load payments with `python -m sync run` (or `make demo` for the sandbox), or widen the period and filters."

# --- tables ----------------------------------------------------------------------------------------


def money_column(label: str, help: str | None = None) -> Any:
    return st.column_config.TextColumn(label, help=help or "In the row's own currency (never converted).")


# Streamlit's "percent" drops trailing zeros (85.40 % reads "85.4%" beside "85.68%"); a step of 0.0001
# fixes every rate at two decimals, so a period and its previous one read alike.
PERCENT_STEP = 0.0001


def percent_column(label: str, help: str | None = None) -> Any:
    return st.column_config.NumberColumn(label, format="percent", step=PERCENT_STEP, help=help)


def count_column(label: str, help: str | None = None) -> Any:
    return st.column_config.NumberColumn(label, format="localized", help=help)


def ist_column(label: str, help: str | None = None) -> Any:
    return st.column_config.DatetimeColumn(label, format=IST_DATETIME_FORMAT, timezone=IST.key, help=help)


def payment_link_column(label: str = "Razorpay") -> Any:
    return st.column_config.LinkColumn(
        label,
        display_text="Open ↗",
        help="The payment in Razorpay's own dashboard (needs your Razorpay sign-in).",
    )


def with_money(frame: pd.DataFrame, *amounts: str, currency: str = "currency") -> pd.DataFrame:
    """Add `<amount>_shown`, each amount as text in its own currency (₹ with Indian grouping), for every
    column named; exports keep the minor units."""
    return frame.assign(
        **{
            f"{amount}_shown": [
                money(int(value), str(code)) if pd.notna(value) and pd.notna(code) else "—"
                for value, code in zip(frame[amount], frame[currency], strict=True)
            ]
            for amount in amounts
        }
    )


def labelled(frame: pd.DataFrame, config: Mapping[str, Any]) -> dict[str, Any]:
    """`config` plus a header in words for every column it leaves out (`expected_event` → `Expected
    event`): no table shows a snake_case header."""
    return {**{str(c): header(str(c)) for c in frame.columns}, **config}


def dashes(frame: pd.DataFrame, *columns: str) -> pd.DataFrame:
    """Text columns with "—" where there is no value (a table never reads "None")."""
    present = [c for c in columns if c in frame.columns]
    if not present:
        return frame
    return frame.assign(**{c: [v if isinstance(v, str) and v else "—" for v in frame[c]] for c in present})


def days(frame: pd.DataFrame, *columns: str) -> pd.DataFrame:
    """Date columns as text ("01 Dec 2026"), "—" where there is none (Streamlit draws a missing date
    as "None")."""
    present = [c for c in columns if c in frame.columns]
    return frame.assign(
        **{
            c: ["—" if v is None or pd.isna(v) else pd.Timestamp(v).strftime("%d %b %Y") for v in frame[c]]
            for c in present
        }
    )


def moments(frame: pd.DataFrame, *columns: str) -> pd.DataFrame:
    """Time columns as IST text ("26 Nov 2026, 07:03 IST"), "—" where there is none (for columns that are
    mostly empty, such as a snooze's end, where Streamlit would draw "None")."""
    present = [c for c in columns if c in frame.columns]
    return frame.assign(
        **{
            c: [ist(None if v is None or pd.isna(v) else pd.Timestamp(v).to_pydatetime()) for v in frame[c]]
            for c in present
        }
    )


def human_codes(frame: pd.DataFrame) -> pd.DataFrame:
    """Codes as people read them: bank codes as bank names (UTIB → Axis Bank (UTIB)), snake_case
    failure sources, steps and reasons as words, UPI handles with the app that issues them. Exports keep the codes."""
    shown = frame
    if "bank" in shown:
        shown = shown.assign(bank=[bank_name(v) if isinstance(v, str) else "—" for v in shown["bank"]])
    # Where, at which step and why a payment failed: `bank`, `payment_authentication`, `incorrect_pin`.
    for column in ("error_source", "error_step", "error_reason"):
        if column in shown:
            shown = shown.assign(
                **{column: [reason_text(v) if isinstance(v, str) else "—" for v in shown[column]]}
            )
    if "upi_app" in shown:
        shown = shown.assign(
            upi_app=[f"{upi_app(v)} (@{v})" if isinstance(v, str) and v else "—" for v in shown["upi_app"]]
        )
    return shown


def mask_contacts(frame: pd.DataFrame, user: SignedInUser) -> pd.DataFrame:
    """Emails and phones are masked for roles that work with aggregates only."""
    if sees_contact_details(user.role):
        return frame
    masked = frame.copy()
    if "email" in masked:
        masked["email"] = [mask_email(v) if isinstance(v, str) else v for v in masked["email"]]
    if "contact" in masked:
        masked["contact"] = [mask_phone(v) if isinstance(v, str) else v for v in masked["contact"]]
    return masked


def csv_download(
    frame: pd.DataFrame,
    *,
    name: str,
    user: SignedInUser,
    filters: FilterState | None = None,
    write: exports.Writer | None = None,
    total: int | None = None,
    page: str | None = None,
) -> None:
    """The CSV behind a table, prepared on request and audited (dashboard/exports.py): all `total`
    rows through `write` when the table shows only the first of them, else the frame's own rows."""
    detail: dict[str, Any] = {"columns": [str(c) for c in frame.columns if not str(c).endswith("_shown")]}
    if filters is not None:
        detail["filters"] = {key: str(value) for key, value in filters.to_query().items()}
    exports.export_button(
        write or exports.frame_writer(frame),
        name=name,
        actor=user.name,
        page=page or name,
        rows=len(frame) if total is None else total,
        detail=detail,
    )


def showing(shown: int, total: int, what: str = "rows", *, which: str = "") -> None:
    """Say so when a table holds fewer rows than exist (its CSV holds them all); `which` says which of
    them it holds ("the latest ")."""
    if total > shown:
        st.caption(f"Showing {which}{count(shown)} of {count(total)} {what}; the CSV has all {count(total)}.")


def payments_table(
    frame: pd.DataFrame,
    *,
    name: str,
    user: SignedInUser,
    filters: FilterState | None = None,
    total: int | None = None,
    all_rows: Callable[[], Iterable[Mapping[str, Any]]] | None = None,
    on_row_click: Callable[[], None] | None = None,
) -> None:
    """Payments with amounts in their currency, IST times and a link to Razorpay; CSV below.
    `total` is how many payments exist when the table holds only the newest; `all_rows` then streams
    every one of them into the CSV (contacts masked as on screen)."""
    if frame.empty:
        st.caption("No payments match.")
        return
    if total is not None and total > len(frame):
        if all_rows is not None:
            showing(len(frame), total, "payments")
        else:
            st.caption(
                f"The newest {count(len(frame))} of {count(total)} payments; narrow the filters to see the rest."
            )
    shown = mask_contacts(with_money(frame, "amount"), user)
    shown = dashes(
        human_codes(shown), "method", "country", "card_network", "error_description", "email", "contact"
    )
    shown = shown.assign(razorpay=[razorpay_payment_url(pid) for pid in shown["id"]])
    order = [
        c for c in ("id", "created_at", "amount_shown", "status", "method", "country", "bank", "card_network")
    ]
    order += [c for c in ("upi_app", "error_reason", "error_description", "email", "contact", "razorpay")]
    st.dataframe(
        shown,
        column_order=[c for c in order if c in shown.columns],
        column_config={
            "id": st.column_config.TextColumn("Payment"),
            "created_at": ist_column("Created (IST)"),
            "amount_shown": money_column("Amount"),
            "status": "Status",
            "method": "Method",
            "country": "Country",
            "bank": "Bank",
            "card_network": "Card network",
            "upi_app": "UPI app",
            "error_reason": "Failure reason",
            "error_description": "Failure description",
            "email": "Email",
            "contact": "Phone",
            "razorpay": payment_link_column(),
        },
        hide_index=True,
        width="stretch",
        key=f"table_{name}",
        on_select=on_row_click or "rerun",
        selection_mode="single-row",
    )
    writer = None
    if all_rows is not None and total is not None:
        masked = sees_contact_details(user.role)
        writer = exports.rows_writer(
            all_rows, list(frame.columns), transform=None if masked else _mask_contact_row
        )
    csv_download(
        mask_contacts(frame, user),
        name=name,
        user=user,
        filters=filters,
        write=writer,
        total=total if writer is not None else None,
    )


def _mask_contact_row(row: Mapping[str, Any]) -> Mapping[str, Any]:
    return {
        **row,
        "email": mask_email(row.get("email")),
        "contact": mask_phone(row.get("contact")),
    }


# --- drill-down ------------------------------------------------------------------------------------


def payments_behind(
    picked: tuple[str, str] | None,
    bars: Mapping[str, pd.DataFrame],
    query: AnalyticsFilters,
    *,
    outcome: Outcome,
    counted: str,
    name: str,
    user: SignedInUser,
    filters: FilterState,
) -> None:
    """The payments behind the picked bar (`(dimension, value)` of `bars[dimension]`), newest first,
    with the bar's own `counted` column as the total they add up to."""
    if picked is None:
        return
    field, value = picked
    bar = bars[field][bars[field][field].astype(str) == value]
    payments_table(
        queries.payments_drilldown(query, dimension=field, value=value, outcome=outcome),
        name=f"{name}-{field}-{value}",
        user=user,
        filters=filters,
        total=int(bar[counted].sum()),
        all_rows=lambda: queries.drilldown_rows(query, dimension=field, value=value, outcome=outcome),
    )


# --- click-to-filter -------------------------------------------------------------------------------
# Every chart or table click that filters goes through `select_on_click`: an `on_select` callback. It
# runs before the next script run, while no widget is drawn yet, so it may write the key of the widget
# it filters (writing that key after the widget exists raises StreamlitAPIException
# "StreamlitWidgetAlreadyInstantiatedError"). The widget then simply shows the clicked value.


def chart_picks(chart_key: str, field: str = "x") -> list[Any]:
    """The values of the points/bars selected in a plotly chart drawn with `on_select`: each point's
    first customdata value (the raw value behind a label), else its `field`."""
    state = st.session_state.get(chart_key)
    if not state:
        return []
    points = state.get("selection", {}).get("points", [])
    picks: list[Any] = []
    for point in points:
        custom = point.get("customdata")
        picks.append(custom[0] if isinstance(custom, list) and custom else point.get(field))
    return picks


def table_picks(table_key: str) -> list[int]:
    """Row positions selected in a dataframe drawn with `on_select`."""
    state = st.session_state.get(table_key)
    if not state:
        return []
    return list(state.get("selection", {}).get("rows", []))


def select_on_click(
    source_key: str,
    target_key: str,
    options: Sequence[Any],
    *,
    to_option: Callable[[Any], Any] = lambda value: value,
    field: str = "x",
    rows: Sequence[Any] | None = None,
) -> Callable[[], None]:
    """The `on_select` callback for the chart (or, with `rows`, the table) drawn with key `source_key`:
    the clicked bar's value (`to_option(value)`), or `rows[i]` for a clicked row i, becomes the value of
    widget `target_key` when it is one of `options`. Clearing a selection leaves the widget alone, so
    choosing by hand afterwards still works."""
    allowed = list(options)
    table_rows = list(rows) if rows is not None else None

    def apply() -> None:
        if table_rows is not None:
            clicked = [table_rows[row] for row in table_picks(source_key) if 0 <= row < len(table_rows)]
        else:
            clicked = [to_option(value) for value in chart_picks(source_key, field)]
        chosen = next((value for value in clicked if value in allowed), None)
        if chosen is not None:
            st.session_state[target_key] = chosen

    return apply


def drill_selector(
    label: str, options: Sequence[Any], *, key: str, format_func: Callable[[Any], str] = str
) -> Any | None:
    """A "show payments for …" picker. Charts and tables that lead to it pass
    `on_select=select_on_click(..., target_key=key)`, so a click, a row and the keyboard all lead to the
    same drill-down."""
    if st.session_state.get(key) not in (None, *options):
        st.session_state[key] = None  # a value from another period/filter: not drawn yet, so allowed
    return st.selectbox(
        label,
        [None, *options],
        key=key,
        format_func=lambda v: "— pick one —" if v is None else format_func(v),
    )


# --- page-specific filters kept in the URL ---------------------------------------------------------


URL_TEXT_MAX = 200  # a free-text URL parameter (a search) longer than this is cut


def restore_from_url(
    widget_key: str,
    param: str,
    options: Sequence[Any],
    cast: Callable[[str], Any] = str,
    *,
    bounds: tuple[Any, Any] | None = None,
) -> None:
    """On first render, a widget starts from its URL parameter (if valid), so shared links reproduce it.
    A value outside `bounds` (inclusive) is clamped into them; text is cut at URL_TEXT_MAX characters."""
    if widget_key in st.session_state or param not in st.query_params:
        return
    try:
        value = cast(st.query_params[param][:URL_TEXT_MAX])
    except (ValueError, OverflowError):
        return
    if bounds is not None:
        value = min(max(value, bounds[0]), bounds[1])
    if not options or value in options:
        st.session_state[widget_key] = value


def keep_in_url(param: str, value: Any, default: Any = None) -> None:
    if value is None or value == default:
        if param in st.query_params:
            del st.query_params[param]
    elif st.query_params.get(param) != str(value):
        st.query_params[param] = str(value)
