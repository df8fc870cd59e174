"""The configuration reference page is the settings model, rendered."""

from __future__ import annotations

from consumer.settings import Settings
from scripts import config_reference


def test_the_committed_page_is_the_model_rendered() -> None:
    committed = config_reference.PAGE.read_text(encoding="utf-8")

    assert committed == config_reference.render(), "run `make docs-config` and commit the page"


def test_every_setting_has_a_row_with_its_variable_and_description() -> None:
    page = config_reference.render()

    for name, field in Settings.model_fields.items():
        row = next(line for line in page.splitlines() if f"`--{name.replace('_', '-')}`" in line)
        assert field.description
        assert " ".join(field.description.split()) in row.replace("\\|", "|")
    assert "| `UNLINK_CONCURRENCY` | `--concurrency` | integer, ≥ 1, ≤ 1000 | `32` |" in page
    assert "| `UNLINK_QUEUE_URL` | `--queue-url` | string, non-empty | required |" in page
