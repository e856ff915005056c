"""Plotly figures the pages draw. Every axis says its unit; hover shows counts behind every rate."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import pandas as pd
import plotly.graph_objects as go

from dashboard.format import (
    compact_money,
    count,
    country_alpha_3,
    country_name,
    minor_digits,
    money,
    to_major,
)
from dashboard.labels import bank_name, method_label, reason_text

_LAYOUT = {
    "margin": {"l": 10, "r": 10, "t": 40, "b": 10},
    "hovermode": "closest",
    "legend": {"orientation": "h"},
}


# One tick per day, labelled as a date: with a single day of data plotly would otherwise zoom to
# fractions of a millisecond around the point.
_DAY_TICKS: dict[str, Any] = {"dtick": 86_400_000, "tickformat": "%d %b"}


def _figure(title: str) -> go.Figure:
    figure = go.Figure()
    figure.update_layout(title=title, **_LAYOUT)
    return figure


def rate_axis_range(*rates: pd.Series) -> list[float] | None:
    """A y range around the rates shown (not 0–100 %), so a 2-point dip in an 83–85 % line is visible;
    at least 5 points tall, padded, clipped to 0..1. None when there are no rates."""
    values = pd.concat([r.dropna().astype(float) for r in rates]) if rates else pd.Series(dtype=float)
    if values.empty:
        return None
    low, high = float(values.min()), float(values.max())
    pad = max((high - low) * 0.15, (0.05 - (high - low)) / 2, 0.005)
    return [max(0.0, low - pad), min(1.0, high + pad)]


def success_trend(
    current: pd.DataFrame, previous: pd.DataFrame, *, grain: str = "day", shift_days: int = 0
) -> go.Figure:
    """Success rate per day (or hour) against the previous period moved forward by `shift_days` (the
    period's length), dashed: each previous day sits over the day a period later, data or not."""
    figure = _figure("Success rate vs previous period" if not previous.empty else "Success rate")
    if not current.empty:
        figure.add_scatter(
            x=current[grain],
            y=current["success_rate"],
            customdata=current[["attempts", "successes"]].to_numpy(),
            mode="lines+markers",
            name="This period",
            hovertemplate="%{x}<br>%{y:.1%} success<br>%{customdata[1]:,} of %{customdata[0]:,} attempts<extra></extra>",
        )
    if not previous.empty and not current.empty:
        # By the period's length, not by where each series' data starts (which differs when a day is empty).
        offset = pd.Timedelta(days=shift_days)
        shifted = [pd.Timestamp(value) + offset for value in previous[grain]]
        figure.add_scatter(
            x=shifted,
            y=previous["success_rate"],
            customdata=previous[[grain, "attempts", "successes"]].astype(str).to_numpy(),
            mode="lines",
            line={"dash": "dash"},
            name="Previous period",
            hovertemplate="%{customdata[0]}<br>%{y:.1%} success<br>%{customdata[2]} of %{customdata[1]} attempts<extra></extra>",
        )
    shown = [current["success_rate"]] if not current.empty else []
    shown += [previous["success_rate"]] if not previous.empty and not current.empty else []
    axis = rate_axis_range(*shown)
    figure.update_yaxes(
        title="Success rate (axis fitted to the data)" if axis else "Success rate",
        tickformat=".1%" if axis and axis[1] - axis[0] < 0.1 else ".0%",
        range=axis,
    )
    if grain == "day":
        figure.update_xaxes(title="IST day", **_DAY_TICKS)
    else:
        figure.update_xaxes(title="IST hour")
    return figure


def _label(dimension: str, value: object) -> str:
    """What a person reads for a bar: country and bank names, reasons in words; the raw code stays in
    customdata for clicks."""
    if dimension == "country":
        return country_name(str(value))
    if dimension == "bank":
        return bank_name(str(value))
    if dimension in ("error_reason", "error_source", "error_step", "status", "phase", "reason_code"):
        return reason_text(str(value))
    if dimension == "method":
        return method_label(str(value))
    return str(value)


_CATEGORY_TITLES = {"upi_app_name": "UPI app", "method": "Payment mode", "card_network": "Card network"}


def _cut_title(title: str, shown: int, total: int, which: str) -> str:
    """A chart that draws only some of the values says so in its title (never a silent cut)."""
    return title if total <= shown else f"{title} — {which} {count(shown)} of {count(total)}"


def rate_bars(frame: pd.DataFrame, dimension: str, title: str, *, top: int = 15) -> go.Figure:
    """Success rate per value of a dimension (the `top` first rows: the caller's frame comes busiest
    first); hover shows attempts and successes. Clickable."""
    shown = frame.head(top)
    figure = _figure(_cut_title(title, len(shown), len(frame), "the busiest"))
    labels = [_label(dimension, v) for v in shown[dimension]]
    figure.add_bar(
        x=labels,
        y=shown["success_rate"],
        customdata=shown[[dimension, "attempts", "successes"]].to_numpy(),
        text=[f"{rate:.1%}" if pd.notna(rate) else "—" for rate in shown["success_rate"]],
        hovertemplate="%{x}<br>%{y:.1%} success<br>%{customdata[2]:,} of %{customdata[1]:,} attempts<extra></extra>",
        name="Success rate",
    )
    figure.update_yaxes(title="Success rate", tickformat=".0%", range=[0, 1])
    figure.update_xaxes(title=_CATEGORY_TITLES.get(dimension, dimension.replace("_", " ").capitalize()))
    return figure


# Where plotly.js fetches map geometry: served by the app itself (dashboard/static/topojson/), not by
# plotly's CDN, so the map renders with no internet. Relative, so it also works behind a path prefix.
MAP_CONFIG: dict[str, Any] = {"topojsonURL": "app/static/topojson/"}


def world_map(frame: pd.DataFrame, *, metric: str) -> go.Figure:
    """Countries coloured by success rate or by attempts; hover shows both. Unknown countries are left out."""
    iso3 = pd.Series([country_alpha_3(c) for c in frame["country"]], index=frame.index, dtype="object")
    shown = frame.assign(iso3=iso3).dropna(subset=["iso3"])
    names = [country_name(c) for c in shown["country"]]
    figure = go.Figure(
        go.Choropleth(
            locations=shown["iso3"],
            z=shown[metric],
            text=names,
            customdata=shown[["country", "attempts", "successes", "success_rate"]].to_numpy(),
            colorscale="Blues" if metric == "attempts" else "RdYlGn",
            zmin=0 if metric == "success_rate" else None,
            zmax=1 if metric == "success_rate" else None,
            colorbar={
                "title": "Attempts" if metric == "attempts" else "Success",
                "tickformat": "" if metric == "attempts" else ".0%",
            },
            hovertemplate="%{text}<br>%{customdata[3]:.1%} success<br>%{customdata[1]:,} attempts<extra></extra>",
        )
    )
    figure.update_layout(
        title="Success rate by country" if metric == "success_rate" else "Attempts by country",
        # The whole world, Greenwich in the middle (the shipped geometry spans -180..180).
        geo={
            "showframe": False,
            "projection": {"type": "natural earth", "rotation": {"lon": 0}},
            "lonaxis": {"range": [-180, 180]},
            "lataxis": {"range": [-60, 85]},
        },
        **{k: v for k, v in _LAYOUT.items() if k != "legend"},
    )
    return figure


def failure_bars(frame: pd.DataFrame, label_column: str = "error_reason") -> go.Figure:
    """Failure reasons, largest first; hover shows the count and its share of all failures."""
    figure = _figure("Why payments failed")
    shown = frame.iloc[::-1]  # plotly draws horizontal bars bottom-up
    figure.add_bar(
        y=[_label(label_column, v) for v in shown[label_column]],
        x=shown["failures"],
        orientation="h",
        customdata=shown[[label_column, "share"]].to_numpy(),
        text=[f"{share:.0%}" for share in shown["share"]],
        hovertemplate="%{y}<br>%{x:,} failed payments<br>%{customdata[1]:.1%} of failures<extra></extra>",
        name="Failures",
    )
    figure.update_xaxes(title="Failed payments (count)")
    figure.update_yaxes(title=None)
    return figure


def lag_percentiles(frame: pd.DataFrame) -> go.Figure:
    """Webhook delivery lag (received − created) p50/p95/p99 per IST day, in seconds."""
    figure = _figure("Webhook lag percentiles (seconds)")
    for column, name in (("lag_p50_ms", "p50"), ("lag_p95_ms", "p95"), ("lag_p99_ms", "p99")):
        figure.add_scatter(
            x=frame["day"],
            y=frame[column] / 1000.0,
            mode="lines+markers",
            name=name,
            hovertemplate=f"%{{x}}<br>{name} %{{y:.2f}} s<extra></extra>",
        )
    figure.update_yaxes(title="Lag (seconds)", rangemode="tozero")
    figure.update_xaxes(title="IST day", **_DAY_TICKS)
    return figure


def settlement_waterfall(steps: Sequence[tuple[str, int]], currency: str) -> go.Figure:
    """Gross → fees → tax → refunds → adjustments → net, in the currency's major unit."""
    labels = [label for label, _ in steps]
    values = [float(to_major(amount, currency)) for _, amount in steps]
    measures = ["absolute", *["relative"] * (len(steps) - 2), "total"]
    figure = go.Figure(
        go.Waterfall(
            x=labels,
            y=values,
            measure=measures,
            text=[money(amount, currency) for _, amount in steps],
            textposition="outside",
            hovertemplate="%{x}: %{text}<extra></extra>",
            connector={"line": {"color": "#999"}},
        )
    )
    figure.update_layout(title=f"Settlement waterfall ({currency})", showlegend=False, **_LAYOUT)
    running = [sum(values[: i + 1]) for i in range(len(values))]
    figure.update_yaxes(title=f"Amount ({currency})", **money_ticks(max([*running, *values, 0.0]), currency))
    return figure


def money_ticks(top: float, currency: str, *, ticks: int = 5) -> dict[str, Any]:
    """Axis ticks for amounts in major units, labelled the way the users read money (₹ in lakh/crore,
    not plotly's "M"): about `ticks` round steps from 0 to `top`."""
    if top <= 0:
        return {}
    raw = top / ticks
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw)
    values = [step * i for i in range(int(top // step) + 2)]
    minor = 10 ** minor_digits(currency)
    # Round steps need no paise: "₹2,000", "₹50 L", not "₹2,000.00", "₹50.00 L".
    labels = [
        compact_money(round(value * minor), currency).replace(".00", "") if value else "0" for value in values
    ]
    return {"tickvals": values, "ticktext": labels}


def count_bars(
    frame: pd.DataFrame,
    x: str,
    y: str,
    title: str,
    y_title: str,
    *,
    labels: Sequence[str] | None = None,
    x_title: str | None = None,
    horizontal: bool = False,
) -> go.Figure:
    """Counts per value of `x`, labelled with `labels` (human names) when given; a click reports the raw
    value (customdata), so filters get the code, people read the name. `horizontal` draws the bars across,
    largest at the top, for long labels."""
    figure = _figure(title)
    names = list(labels) if labels is not None else [str(v) for v in frame[x]]
    category_title = x_title or x.replace("_", " ").capitalize()
    counts = count_axis(frame[y].max() if not frame.empty else 0)
    if horizontal:
        figure.add_bar(
            y=names[::-1],  # plotly draws horizontal bars bottom-up
            x=frame[y].iloc[::-1],
            orientation="h",
            customdata=frame[[x]].iloc[::-1].to_numpy(),
            hovertemplate="%{y}: %{x:,}<extra></extra>",
        )
        figure.update_xaxes(title=y_title, **counts)
        figure.update_yaxes(title=None, automargin=True)
        figure.update_layout(height=max(300, 60 + 28 * len(names)))
        return figure
    figure.add_bar(
        x=names,
        y=frame[y],
        customdata=frame[[x]].to_numpy(),
        hovertemplate="%{x}: %{y:,}<extra></extra>",
    )
    figure.update_yaxes(title=y_title, **counts)
    figure.update_xaxes(title=category_title)
    return figure


def count_axis(top: float) -> dict[str, Any]:
    """An axis of whole counts: integer ticks only, one per count on a small axis, so a 0–3 axis never
    reads `0, 1, 1, 2, 2, 3`."""
    axis: dict[str, Any] = {"tickformat": ",d", "rangemode": "tozero"}
    if top <= 10:
        axis["dtick"] = 1
    return axis


def dispute_rate_bars(frame: pd.DataFrame, dimension: str, title: str, *, top: int = 15) -> go.Figure:
    """Payments disputed ÷ successful payments per value of a dimension; hover shows the counts."""
    with_successes = frame[frame["successes"] > 0]
    shown = with_successes.head(top)
    figure = _figure(_cut_title(title, len(shown), len(with_successes), "the first"))
    figure.add_bar(
        x=[_label(dimension, v) for v in shown[dimension]],
        y=shown["rate"],
        customdata=shown[["disputed", "successes"]].to_numpy(),
        text=[f"{rate:.2%}" for rate in shown["rate"]],
        hovertemplate="%{x}<br>%{y:.2%} disputed<br>%{customdata[0]:,} of %{customdata[1]:,} successful payments"
        "<extra></extra>",
        name="Dispute rate",
    )
    # Dispute rates are fractions of a percent: enough decimals that no two ticks read the same.
    highest = float(shown["rate"].max()) if not shown.empty else 0.0
    figure.update_yaxes(
        title="Dispute rate", tickformat=".2%" if highest < 0.02 else ".1%", rangemode="tozero"
    )
    figure.update_xaxes(title=_CATEGORY_TITLES.get(dimension, dimension.replace("_", " ").capitalize()))
    return figure


def downtime_rate(
    hourly: pd.DataFrame, begin: pd.Timestamp, end: pd.Timestamp, label: str, *, title: str
) -> go.Figure:
    """The instrument's hourly success rate around a declared downtime, drawn as a shaded band, beside
    its baseline (the same hours of previous weeks, dashed)."""
    figure = _figure(title)
    if not hourly.empty:
        figure.add_scatter(
            x=hourly["hour"],
            y=hourly["success_rate"],
            customdata=hourly[["attempts", "successes"]].to_numpy(),
            mode="lines+markers",
            name=label,
            hovertemplate="%{x}<br>%{y:.1%} success<br>%{customdata[1]:,} of %{customdata[0]:,} attempts<extra></extra>",
        )
        figure.add_scatter(
            x=hourly["hour"],
            y=hourly["baseline_rate"],
            mode="lines",
            line={"dash": "dash"},
            name="Baseline (same hours, previous weeks)",
            hovertemplate="%{x}<br>%{y:.1%} baseline<extra></extra>",
        )
    figure.add_vrect(
        x0=begin,
        x1=end,
        fillcolor="crimson",
        opacity=0.15,
        line_width=0,
        annotation_text="Razorpay downtime",
        annotation_position="top left",
    )
    figure.update_yaxes(title="Success rate", tickformat=".0%", range=[0, 1.02])
    figure.update_xaxes(title="IST hour")
    # The legend below the axis title, not over the ticks' second line (the date under the first hour).
    figure.update_layout(
        legend={"orientation": "h", "yanchor": "top", "y": -0.32, "x": 0},
        margin={"l": 10, "r": 10, "t": 40, "b": 100},
    )
    return figure
