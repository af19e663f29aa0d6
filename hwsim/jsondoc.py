"""JSON documents: a design point's form at the edges only.

A document is what the results store keeps and hands back, what a report or ``--json`` writes, and what a
sweep file's free-form settings are read as (a scheme's parameters, a model's builder arguments, an
accelerator's field overrides) before they are resolved into typed objects. Between stages a point is
typed (:mod:`hwsim.design`); these aliases name data on its way into or out of that form.
"""

from __future__ import annotations

from typing_extensions import TypeAliasType

# a JSON value (pydantic validates fields of this type: YAML's bools, ints, floats and strings stay what they are)
Json = TypeAliasType("Json", "None | bool | int | float | str | list[Json] | dict[str, Json]")
# a JSON object: a document written to the store or a report, or settings read from a file
JsonDocument = dict[str, Json]

__all__ = ["Json", "JsonDocument"]
