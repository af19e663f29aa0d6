"""JSON documents: what the simulator's reports become where they are written (``to_dict``), and
what a file holds where it is read. Results pass between functions as dataclasses."""

from __future__ import annotations

# a JSON value, recursively (a YAML scalar, list or mapping as a file gives it)
Json = None | bool | int | float | str | list["Json"] | dict[str, "Json"]
# a JSON object at the edge: a report written out, an accelerator file read in
JsonDocument = dict[str, Json]
