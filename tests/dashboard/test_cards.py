"""Headline cards never cut a number: what a card shows for its width (issue 12, "Everywhere")."""

from __future__ import annotations

import pytest

from dashboard import widgets
from dashboard.format import fits_card, money_forms, plain


@pytest.mark.parametrize(
    ("minor", "currency", "four_to_a_row"),
    [
        (1_61_33_412_50, "INR", "₹1.61 Cr"),  # ₹1,61,33,412.50 is cut at four to a row
        (4_74_711_08, "INR", "₹4.75 L"),
        (4_180_890, "USD", "$41.81K"),  # $41,808.90 was cut on Overview at 1280 px
        (1_225_886, "AED", "AED12.3K"),  # AED12,258.86 and AED12.26K are too wide
        (99_900, "INR", "₹999.00"),  # fits: stays exact
    ],
)
def test_money_cards_fall_back_to_lakh_crore_with_the_exact_figure_in_help(
    minor: int, currency: str, four_to_a_row: str
) -> None:
    card = widgets.fitted(widgets.money_kpi("Value", minor, currency, help="Σ of amounts."), 4)
    exact = money_forms(minor, currency)[0]
    assert card.value == four_to_a_row
    assert fits_card(card.value, 4)
    if card.value != exact:
        assert card.help == f"Exactly {exact}. Σ of amounts."
    else:
        assert card.help == "Σ of amounts."


def test_a_wide_card_keeps_the_exact_figure() -> None:
    card = widgets.fitted(widgets.money_kpi("Value", 1_61_33_412_50, "INR"), 2)
    assert card.value == "₹1,61,33,412.50"
    assert card.help is None


def test_counts_stay_exact_until_they_would_be_cut() -> None:
    assert widgets.fitted(widgets.count_kpi("Attempts", 12_34_567), 4).value == "12,34,567"
    crores = widgets.fitted(widgets.count_kpi("Attempts", 12_34_56_789), 4)
    assert crores.value == "12.35Cr"
    assert crores.help == "Exactly 12,34,56,789."


def test_a_phrase_on_a_card_is_escaped_text() -> None:
    assert plain("![b](http://x/beacon.png)") == r"\!\[b\]\(http\:\/\/x\/beacon\.png\)"
    assert plain("*x*\n<img>") == r"\*x\* \<img\>"
