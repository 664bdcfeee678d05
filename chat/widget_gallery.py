"""One of each ChatKit widget component, built from the SDK's own Python models
(`chatkit.widgets`, openai-chatkit 1.6.5), for the gallery page the built-in client's
widget renderer is checked against (staff or DEBUG only).

The SDK marks direct use of these classes deprecated in favour of `.widget` template files;
they are still the models every widget is validated against, which is what the gallery is
for, so the warning is silenced here only.
"""

import warnings
from datetime import datetime
from typing import Any

from chatkit.actions import ActionConfig


def action(kind: str, payload: Any = None, **options: Any) -> ActionConfig:
    return ActionConfig(type=kind, payload=payload, **options)


def gallery_widgets() -> list[tuple[str, dict[str, Any]]]:
    """(title, widget root JSON) pairs covering every component type."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        from chatkit import widgets as w

        text_and_badges = w.Card(
            id="text-card",
            children=[
                w.Title(value="Trip to Lisbon", size="lg"),
                w.Caption(value="Three days, two people"),
                w.Text(id="streamed", value="Streaming text", streaming=True),
                w.Markdown(value="**Markdown** with a [link](https://example.com) and `code`."),
                w.Row(
                    gap=2,
                    children=[
                        w.Badge(label="Confirmed", color="success"),
                        w.Badge(label="Pending", color="warning", variant="outline", pill=True),
                        w.Icon(name="star", color="warning", size="lg"),
                        w.Spacer(),
                        w.Icon(name="calendar"),
                    ],
                ),
                w.Divider(),
                w.Box(
                    direction="row",
                    gap=3,
                    padding=2,
                    radius="md",
                    background="surface-secondary",
                    children=[
                        w.Image(src="/static/site/favicon.svg", alt="Site logo", size=40),
                        w.Col(
                            gap=1,
                            children=[
                                w.Text(value="Hotel Avenida", weight="semibold"),
                                w.Text(value="Old price", lineThrough=True, color="secondary"),
                            ],
                        ),
                    ],
                ),
                w.Transition(children=w.Text(value="Inside a transition")),
            ],
            confirm={"label": "Book", "action": action("trip.book", {"trip": "lisbon"})},
            cancel={"label": "Not now", "action": action("trip.dismiss", streaming=False)},
        )
        form = w.Card(
            id="form-card",
            asForm=True,
            children=[
                w.Title(value="Your details", size="md"),
                w.Col(
                    gap=2,
                    children=[
                        w.Label(value="Name", fieldName="name"),
                        w.Input(name="name", placeholder="Ada Lovelace", required=True),
                        w.Label(value="Notes", fieldName="notes"),
                        w.Textarea(name="notes", rows=2, defaultValue="Window seat"),
                        w.Label(value="Meal", fieldName="meal"),
                        w.Select(
                            name="meal",
                            options=[
                                {"value": "veg", "label": "Vegetarian"},
                                {"value": "fish", "label": "Fish"},
                            ],
                            defaultValue="fish",
                        ),
                        w.Checkbox(name="insurance", label="Travel insurance", defaultChecked=True),
                        w.RadioGroup(
                            name="seat",
                            ariaLabel="Seat",
                            options=[
                                {"value": "aisle", "label": "Aisle"},
                                {"value": "window", "label": "Window"},
                            ],
                            defaultValue="window",
                        ),
                        w.Label(value="Date", fieldName="date"),
                        w.DatePicker(name="date", defaultValue=datetime(2026, 5, 1)),
                    ],
                ),
            ],
            confirm={"label": "Send", "action": action("details.submit", {"form": "details"})},
        )
        standalone_form = w.Card(
            children=[
                w.Form(
                    onSubmitAction=action("search.run", streaming=False),
                    direction="row",
                    gap=2,
                    children=[
                        w.Input(name="query", placeholder="Search flights"),
                        w.Button(label="Search", submit=True, iconStart="search"),
                    ],
                ),
                w.Row(
                    gap=2,
                    children=[
                        w.Button(label="Primary", onClickAction=action("button.primary")),
                        w.Button(label="Outline", variant="outline", color="secondary"),
                        w.Button(label="Danger", color="danger", variant="soft", pill=True),
                        w.Button(label="Disabled", disabled=True),
                    ],
                ),
            ]
        )
        list_view = w.ListView(
            limit=2,
            status={"text": "Flights", "icon": "globe"},
            children=[
                w.ListViewItem(
                    onClickAction=action("flight.pick", {"id": n}),
                    children=[w.Text(value=f"Flight {n}"), w.Caption(value="Direct")],
                )
                for n in range(1, 4)
            ],
        )
        data = [
            {"month": "Jan", "rain": 100, "sun": 60, "wind": 30},
            {"month": "Feb", "rain": 80, "sun": 90, "wind": 45},
            {"month": "Mar", "rain": 55, "sun": 120, "wind": 50},
        ]
        chart = w.Card(
            children=[
                w.Chart(
                    data=data,
                    xAxis="month",
                    series=[
                        w.BarSeries(label="Rain", dataKey="rain"),
                        w.LineSeries(label="Sun", dataKey="sun", color="orange"),
                        w.AreaSeries(label="Wind", dataKey="wind", color="green"),
                    ],
                    height=180,
                )
            ]
        )
        basic = w.BasicRoot(children=[{"type": "Text", "value": "A basic root"}])
        roots = [
            ("Text, badges, icons, image, layout", text_and_badges),
            ("A card as a form", form),
            ("A form and buttons", standalone_form),
            ("A list", list_view),
            ("A chart: bar, line, area", chart),
            ("A basic root", basic),
        ]
        return [(title, root.model_dump(mode="json", exclude_none=True)) for title, root in roots]


# Every component type the gallery shows (the tests check each is rendered).
COMPONENT_TYPES = (
    "Card", "ListView", "ListViewItem", "Box", "Row", "Col", "Text", "Title", "Caption",
    "Markdown", "Badge", "Button", "Icon", "Image", "Divider", "Spacer", "Form", "Input",
    "Textarea", "Select", "Checkbox", "RadioGroup", "DatePicker", "Label", "Chart",
    "Transition", "Basic",
)  # fmt: skip
