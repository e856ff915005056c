"""A bar chart that draws only its first values says so in its title: the success-rate bars show the 15
busiest of N and the dispute-rate bars the first 15 of N (issue 12: nothing is cut silently)."""

from __future__ import annotations

import pandas as pd

from dashboard import charts


def _rates(values: int) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "bank": [f"BANK{n:02d}" for n in range(values)],
            "attempts": [1_000 - n for n in range(values)],
            "successes": [900 - n for n in range(values)],
            "success_rate": [(900 - n) / (1_000 - n) for n in range(values)],
        }
    )


def test_rate_bars_say_how_many_values_they_leave_out() -> None:
    figure = charts.rate_bars(_rates(20), "bank", "Success rate by bank")
    assert figure.layout.title.text == "Success rate by bank — the busiest 15 of 20"
    assert len(figure.data[0].x) == 15


def test_rate_bars_with_every_value_keep_their_title() -> None:
    figure = charts.rate_bars(_rates(15), "bank", "Success rate by bank")
    assert figure.layout.title.text == "Success rate by bank"


def test_dispute_rate_bars_say_how_many_values_they_leave_out() -> None:
    rates = pd.DataFrame(
        {
            "card_network": [f"Net{n:02d}" for n in range(18)],
            "successes": [0, *([100] * 17)],  # a network with no successful payment has no rate to draw
            "disputed": [0, *([1] * 17)],
            "rate": [0.0, *([0.01] * 17)],
        }
    )
    figure = charts.dispute_rate_bars(rates, "card_network", "By card network")
    assert figure.layout.title.text == "By card network — the first 15 of 17"
    assert len(figure.data[0].x) == 15
