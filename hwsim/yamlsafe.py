"""YAML as hwsim reads every file a user hands it: ``yaml.safe_load`` with limits.

:class:`StrictLoader` is a SafeLoader that refuses duplicate keys, integers over Python's digit
limit, nesting deeper than :data:`MAX_DEPTH`, documents whose aliases expand past :data:`MAX_NODES`
or into themselves, values over MAX_SCALAR characters and tags beyond plain data (``!!python/...``,
``!!set``, ``!!binary``, custom tags). The
limits are checked on the composed node graph before any value is constructed, so an alias bomb or
a self-referencing alias is refused in microseconds with bounded memory. :func:`safe_load` turns any
of that (and any syntax error) into a one-line :class:`hwsim.errors.UserError` naming file:line.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from hwsim.errors import UserError

# Limits on what a YAML file may build: far above any real sweep, far below what hurts. They are
# checked on the composed node graph, before any value is constructed, so an alias bomb or a
# self-referencing alias costs microseconds, not gigabytes.
MAX_DEPTH = 64             # nesting, counted along alias expansions
MAX_NODES = 200_000        # nodes after expanding aliases (what pydantic and the expansion will visit)


class StrictLoader(yaml.SafeLoader):
    """SafeLoader that refuses duplicate keys, over-long integers, nesting deeper than MAX_DEPTH
    and documents whose aliases expand past MAX_NODES (or into themselves)."""

    def __init__(self, stream: str):
        super().__init__(stream)
        self._depth = 0

    def compose_node(self, parent: Any, index: Any) -> Any:
        self._depth += 1
        try:
            if self._depth > MAX_DEPTH:
                raise yaml.composer.ComposerError(None, None, f"nested deeper than {MAX_DEPTH} levels",
                                                  self.peek_event().start_mark)
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1

    def construct_yaml_int(self, node: yaml.ScalarNode) -> int:
        try:
            return super().construct_yaml_int(node)
        except ValueError:
            raise yaml.constructor.ConstructorError(
                None, None, f"integer with {len(node.value)} characters is too long", node.start_mark) from None


StrictLoader.add_constructor("tag:yaml.org,2002:int", StrictLoader.construct_yaml_int)


MAX_SCALAR = 10_000          # characters in one value
PLAIN_TAGS = {f"tag:yaml.org,2002:{t}" for t in ("str", "int", "float", "bool", "null", "seq", "map", "merge",
                                                 "timestamp")}


def check_graph(node: yaml.Node) -> None:
    """Duplicate keys, depth and expanded size of a composed document; a MarkedYAMLError when over."""
    size: dict[int, tuple[int, int]] = {}   # node -> (expanded size, expanded height)
    stack: list[int] = []

    def expanded(n: yaml.Node) -> int:
        key = id(n)
        if key in size:
            if len(stack) + size[key][1] > MAX_DEPTH:
                raise yaml.composer.ComposerError(None, None, f"nested deeper than {MAX_DEPTH} levels "
                                                  "(aliases expanded)", n.start_mark)
            return size[key][0]
        if key in stack:
            raise yaml.composer.ComposerError(None, None, "an alias refers to the node that contains it",
                                              n.start_mark)
        if len(stack) >= MAX_DEPTH:
            raise yaml.composer.ComposerError(None, None, f"nested deeper than {MAX_DEPTH} levels "
                                              "(aliases expanded)", n.start_mark)
        if n.tag not in PLAIN_TAGS:   # !!python/..., !!set, !!binary, custom tags: not data hwsim files hold
            raise yaml.constructor.ConstructorError(None, None, f"YAML tag {n.tag!r} is not allowed here "
                                                    "(plain mappings, lists, strings, numbers, booleans, null)",
                                                    n.start_mark)
        if isinstance(n, yaml.ScalarNode) and len(n.value) > MAX_SCALAR:
            raise yaml.constructor.ConstructorError(None, None, f"a value of {len(n.value):,} characters "
                                                    f"(limit {MAX_SCALAR:,})", n.start_mark)
        stack.append(key)
        total, height = 1, 1
        if isinstance(n, yaml.MappingNode):
            seen: dict[Any, yaml.Node] = {}
            for k, v in n.value:
                if isinstance(k, yaml.ScalarNode) and k.tag != "tag:yaml.org,2002:merge":
                    if (k.tag, k.value) in seen:
                        raise yaml.constructor.ConstructorError(
                            None, None, f"duplicate key {k.value!r} (first at line "
                            f"{seen[(k.tag, k.value)].start_mark.line + 1})", k.start_mark)
                    seen[(k.tag, k.value)] = k
                total += expanded(k) + expanded(v)
                height = max(height, 1 + size[id(v)][1])
        elif isinstance(n, yaml.SequenceNode):
            for v in n.value:
                total += expanded(v)
                height = max(height, 1 + size[id(v)][1])
        stack.pop()
        if total > MAX_NODES:
            raise yaml.composer.ComposerError(None, None, f"the document expands to more than {MAX_NODES:,} "
                                              "nodes (aliases expanded)", n.start_mark)
        size[key] = (total, height)
        return total

    expanded(node)


def safe_load(text: str, file: str = "<string>", visit: Callable[[yaml.Node], None] | None = None,
              empty: str | None = None) -> Any:
    """``yaml.safe_load`` through :class:`StrictLoader`; every problem a one-line UserError at file:line.

    ``visit`` sees the composed node graph before it is constructed (the sweep schema maps paths to
    lines with it); ``empty``: the message for a document with no content (else it loads as None)."""
    if "\x00" in text:
        line = text[: text.index("\x00")].count("\n") + 1
        raise UserError(f"{file}:{line}", "NUL byte in the file; YAML is text")
    loader = StrictLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            if empty is not None:
                raise UserError(f"{file}:1", empty)
            return None
        check_graph(node)
        if visit is not None:
            visit(node)
        return loader.construct_document(node)
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        line = f":{mark.line + 1}" if mark else ""
        raise UserError(f"{file}{line}", f"YAML syntax error: {e.problem or e.context}") from None
    except yaml.YAMLError as e:
        raise UserError(file, f"YAML error: {e}") from None
    except RecursionError:  # belt and braces: the limits above should stop this first
        raise UserError(file, f"YAML error: nested too deeply (limit {MAX_DEPTH})") from None
    finally:
        loader.dispose()


# Parsed files by (path, mtime, size): a sweep prices thousands of hardware points against the same
# technology, hierarchy and accelerator tables, and parsing them was a sixth of each point's CPU.
_FILES: dict[tuple[str, int, int], Any] = {}


def load_file(path: str | Path, where: str | None = None) -> Any:
    """The YAML file at ``path`` through :func:`safe_load`, parsed once per process while it is unchanged.

    Callers get their own deep copy, so editing what they receive never alters a later read."""
    p = Path(path)
    where = where or str(p)
    try:
        st = p.stat()
        key = (str(p.resolve()), st.st_mtime_ns, st.st_size)
        if key not in _FILES:
            text = p.read_text()
    except (OSError, UnicodeDecodeError) as e:
        raise UserError(where, f"cannot read file ({getattr(e, 'strerror', None) or type(e).__name__})") from None
    if key not in _FILES:
        _FILES[key] = safe_load(text, where)
    return copy.deepcopy(_FILES[key])
