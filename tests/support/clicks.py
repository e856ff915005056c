"""Clicks AppTest has no method for: a bar or point of a plotly chart, a row of a dataframe.

The browser sends a selection as the widget's string value (JSON) with the next run; these helpers send
exactly that through AppTest's own run, so the page's `on_select` callback runs as it does in a browser
(before the script, with the selection in session state). The browser test clicks real bars too.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from streamlit.proto.WidgetStates_pb2 import WidgetState
from streamlit.testing.v1 import AppTest


def _element_id(at: AppTest, key: str) -> str:
    for node in at._tree:  # AppTest has no finder for charts or tables with selections
        proto = getattr(node, "proto", None)
        element_id = getattr(proto, "id", "") if proto is not None else ""
        if element_id and getattr(node, "key", None) == key:
            return str(element_id)
    raise LookupError(f"no chart or table with key {key!r} on the page")


def _run_with(at: AppTest, key: str, selection: Mapping[str, Any]) -> AppTest:
    states = at._tree.get_widget_states()
    state = WidgetState(id=_element_id(at, key), string_value=json.dumps({"selection": dict(selection)}))
    states.widgets.append(state)
    return at._run(states)  # the run a browser click triggers


def click_chart(at: AppTest, key: str, points: Sequence[Mapping[str, Any]]) -> AppTest:
    """Select `points` (plotly point dicts: x, y, customdata, point_index …) in chart `key` and run."""
    indices = [int(point.get("point_index", i)) for i, point in enumerate(points)]
    return _run_with(
        at, key, {"points": [dict(p) for p in points], "point_indices": indices, "box": [], "lasso": []}
    )


def click_row(at: AppTest, key: str, row: int) -> AppTest:
    """Select row position `row` of dataframe `key` and run."""
    return _run_with(at, key, {"rows": [row], "columns": [], "cells": []})
