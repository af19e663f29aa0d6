"""One resolver for the shipped configuration files: ``resolve(kind, name_or_path)``.

A bare name means ``configs/<kind>/<name>.yaml``; anything that looks like a path (it ends in
``.yaml``/``.yml``/``.cfg`` or names a folder) is a file, tried as given and then relative to
``base`` (a sweep file's folder). The CLI, the sweep and :func:`hwsim.hardware.resolve_accelerator`
all go through here, so a name means the same file everywhere.
"""

from __future__ import annotations

from pathlib import Path

from hwsim.errors import UserError

CONFIG_DIR = Path(__file__).resolve().parents[1] / "configs"

# kind -> (folder under configs/, what a user calls one, file endings that make a path)
KINDS: dict[str, tuple[str, str, tuple[str, ...]]] = {
    "accelerators": ("accelerators", "accelerator", (".yaml", ".yml", ".cfg")),
    "tech": ("tech", "tech", (".yaml", ".yml")),
    "hierarchy": ("hierarchy", "hierarchy", (".yaml", ".yml")),
    "literature": ("literature", "literature file", (".yaml", ".yml")),
    "sweeps": ("sweeps", "sweep file", (".yaml", ".yml")),
}


def known(kind: str) -> list[str]:
    """The names shipped under configs/<kind>/."""
    folder = CONFIG_DIR / KINDS[kind][0]
    return sorted(p.stem for p in folder.glob("*.yaml"))


def is_path(kind: str, name: str) -> bool:
    """Whether ``name`` is meant as a file rather than a shipped name."""
    return str(name).endswith(KINDS[kind][2]) or Path(str(name)).parent != Path(".")


def resolve(kind: str, name_or_path: str | Path, where: str | None = None, base: Path | None = None) -> Path:
    """The file a name or path stands for; a one-line :class:`UserError` (at ``where``) when there is none."""
    if kind not in KINDS:
        raise ValueError(f"unknown config kind {kind!r}; expected one of {', '.join(KINDS)}")
    folder, noun, _ = KINDS[kind]
    name = str(name_or_path)
    where = where or f"--{noun.split()[0]}"
    if is_path(kind, name):
        for c in [Path(name)] + ([base / name] if base is not None else []):
            if c.is_file():
                return c.resolve()
        raise UserError(where, f"{noun} file not found: {name}")
    path = CONFIG_DIR / folder / f"{name}.yaml"
    if path.is_file():
        return path.resolve()
    raise UserError(where, f"unknown {noun} {name!r}; known: {', '.join(known(kind)) or '(none)'} "
                           f"(or a path to a .yaml file)")
