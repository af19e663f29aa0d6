"""Shared by verbs: JSON output, rich tables, ``--strict``, the workload options and the fp32-training options."""

from __future__ import annotations

import contextlib
import json
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from hwsim.jsondoc import JsonDocument
    from hwsim.workload import WorkloadOptions


def check_strict(stays_float: dict[str, str], scheme: str, strict: bool,
                 unsupported_ops: dict[str, int] | None = None) -> None:
    """With ``--strict``, layers a scheme left float, and ops counted without a formula of their own,
    are an error (one line naming each)."""
    if not strict:
        return
    from hwsim.errors import UserError

    if stays_float:
        raise UserError("--strict", f"{len(stays_float)} layer(s) stay float under {scheme}: "
                        + "; ".join(f"{n or 'model'} ({why})" for n, why in stays_float.items()))
    if unsupported_ops:
        raise UserError("--strict", f"{len(unsupported_ops)} op(s) have no counting formula (counted as "
                        f"element-wise work): " + ", ".join(f"{op} x{n}" for op, n in unsupported_ops.items()))


# --no-trace-cache, on the verbs that count through hwsim.evaluate.trace_workload
NO_TRACE_CACHE_HELP = ("Count every trace afresh: neither read nor write the trace cache (`hwsim cache info`; "
                       "HWSIM_TRACE_CACHE=0 does the same).")


def print_json(obj: Any) -> None:
    json.dump(obj, sys.stdout, indent=2, sort_keys=True, default=str)
    sys.stdout.write("\n")


def safe_text(v: Any) -> Any:
    """A cell or title as rich Text: user strings (file, layer and point names, store paths) are shown
    with control and bidi characters escaped, and never read as rich markup."""
    from rich.text import Text

    from hwsim.errors import printable

    return Text(printable(f"{v:,}" if isinstance(v, int) and not isinstance(v, bool) else str(v)))


def print_table(title: str, columns: list[str], rows: list[list[Any]], width: int | None = None,
                lines: bool = False) -> None:
    """A rich table, every cell escaped (:func:`safe_text`); ``width`` (for prose-heavy tables) caps a
    piped output's width so text wraps at words, and the first column (a name) never wraps."""
    from rich.table import Table

    t = Table(title=safe_text(title), show_lines=lines)
    for i, c in enumerate(columns):
        t.add_column(safe_text(c), overflow="fold", no_wrap=i == 0 and width is not None)
    for r in rows:
        t.add_row(*[safe_text(v) for v in r])
    console(width).print(t)


def metric_table(title: str, columns: list[str], rows: list[list[Any]], metrics: list[str],
                 values: list[list[Any]], after: tuple[str, list[Any]] | None = None) -> None:
    """A table of text ``columns`` followed by one column per metric, each in the one unit style with
    one prefix per column (``Training energy per step (mJ)`` over ``12.3``, ``4.56``); ``after``: one
    more text column (header, cells) at the end."""
    from hwsim import units

    heads, cols = [], []
    for j, m in enumerate(metrics):
        texts, sc = units.column([r[j] for r in values], units.unit_of(m))
        heads.append(units.header(m, sc))
        cols.append(texts)
    tail = [after[0]] if after else []
    print_table(title, columns + heads + tail,
                [list(r) + [c[i] for c in cols] + ([after[1][i]] if after else []) for i, r in enumerate(rows)])


def summary_line(info: JsonDocument) -> str:
    """``sweep=quick, done=12, wall=25 min 20 s``: a run's summary (the document ``--json`` prints), numbers
    in the one unit style."""
    from hwsim import units

    def one(k: str, v: Any) -> str:
        if k == "wall_s" or k.endswith("_s") and isinstance(v, (int, float)):
            return f"{k.removesuffix('_s')}={units.duration(v)}"
        if isinstance(v, float):
            return f"{k}={units.fmt(v, units.unit_of(k), 4)}"
        if isinstance(v, int) and not isinstance(v, bool):
            return f"{k}={units.count(v)}"
        if isinstance(v, (list, tuple)):
            return f"{k}=[{'; '.join(map(str, v))}]"
        return f"{k}={v}"

    return ", ".join(one(k, v) for k, v in info.items())


def console(width: int | None = None):
    """A rich console for tables: a terminal keeps its own width; piped or redirected output is never
    squeezed (rich would fold it to 80 columns), so logs and files get whole rows, except tables of
    prose, which wrap at words to ``width``."""
    from rich.console import Console

    if sys.stdout.isatty():
        return Console()
    return Console(width=width or 100_000)


# -- the workload options, declared once for every verb that takes a model -----------------
# (parameter name, annotation, typer option). Old spellings are hidden aliases: they still work and
# are not advertised. Defaults are None ("not given") so a trace file can refuse them and train can
# tell a given --input from the data set's; the defaults themselves live in hwsim.workload.
PANEL = "Workload (the same on count, cost, simulate and train)"


def _workload_params() -> list[tuple[str, Any, Any]]:
    import typer

    from hwsim.workload import DEFAULT_BATCH, DEFAULT_OPTIMIZER, DEFAULT_PHASE, DEFAULT_SCHEME, OPTIMIZERS

    return [
        ("batch", int | None, typer.Option(
            None, "--batch", "-b", min=1, max=2**31 - 1, show_default=str(DEFAULT_BATCH), rich_help_panel=PANEL,
            help="Batch size: samples in the training step, or in the inference pass with --phase infer.")),
        ("input", str | None, typer.Option(
            None, "--input", show_default="the model's; train: the data set's", rich_help_panel=PANEL,
            help="Input without the batch, any rank: 3x224x224 or 3,224,224, 50x192; token ids as tokens:N.")),
        ("phase", str | None, typer.Option(
            None, "--phase", metavar="train|infer", show_default=DEFAULT_PHASE, rich_help_panel=PANEL,
            help="train (one training step: forward, backward-data, backward-weight, update) or infer "
                 "(one inference pass).")),
        ("scheme", str | None, typer.Option(
            None, "--scheme", "-s", show_default=DEFAULT_SCHEME, rich_help_panel=PANEL,
            help="Precision scheme: a name (see `hwsim schemes`), an inline YAML mapping such as "
                 "'{name: kbit, weight_bits: 4}', or a YAML file holding one.")),
        ("classes", int | None, typer.Option(
            None, "--classes", min=1, max=2**31 - 1, show_default="the model's; train: the data set's",
            rich_help_panel=PANEL, help="Number of classes.")),
        ("optimizer", str | None, typer.Option(
            None, "--optimizer", metavar="|".join(OPTIMIZERS), show_default=DEFAULT_OPTIMIZER, rich_help_panel=PANEL,
            help="sgd is plain SGD (no state), sgd_momentum SGD with momentum 0.9 (one state tensor per "
                 "parameter), adam Adam (two).")),
        ("input_shape_alias", str | None, typer.Option(None, "--input-shape", hidden=True)),
        ("infer_alias", bool, typer.Option(False, "--infer", hidden=True)),
    ]


def workload_options(verb: Any) -> Any:
    """Give ``verb`` the workload options (see :class:`hwsim.workload.WorkloadOptions`): they are added
    to its command-line signature and reach it as one ``wl: WorkloadOptions`` argument."""
    return _option_group(verb, "wl", _workload_params(), options_from)


def _option_group(verb: Any, arg: str, params: list[tuple[str, Any, Any]],
                  build: Callable[..., Any]) -> Any:
    """``verb`` with ``params`` added to its command-line signature; their parsed values reach it as the
    one argument ``arg``, built by ``build`` from them as keyword arguments."""
    import functools
    import inspect

    names = [n for n, _, _ in params]
    sig = inspect.signature(verb)
    own = [p for p in sig.parameters.values() if p.name != arg]
    added = [inspect.Parameter(n, inspect.Parameter.KEYWORD_ONLY, default=opt, annotation=ann)
             for n, ann, opt in params]

    @functools.wraps(verb)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        given = {n: kwargs.pop(n) for n in names}
        return verb(*args, **{arg: build(**given)}, **kwargs)

    # typer reads this signature (inspect stops at __signature__); the verb's own annotations are
    # resolved in the verb's module, which __wrapped__ names
    wrapper.__signature__ = sig.replace(parameters=[p.replace(kind=inspect.Parameter.KEYWORD_ONLY) for p in own]
                                        + added)
    wrapper.__annotations__ = {k: v for k, v in verb.__annotations__.items() if k != arg}
    wrapper.__annotations__.update({n: ann for n, ann, _ in params})
    return wrapper


# -- the fp32-training options of the verbs that start from a trained fp32 network ----------
TRAIN_PANEL = "fp32 training (the same on retrofit and precision)"


@dataclass(frozen=True)
class Fp32Training:
    """How the fp32 network a verb starts from is trained, or where it is kept: the data set, the
    recipe's epochs, rate, batch and seed, the store whose artefacts keep the network, or a checkpoint."""

    dataset: str = "digits"
    data_root: str | None = None
    epochs: int = 10
    lr: float = 0.05
    batch: int = 64
    seed: int = 0
    db: Path = Path("results/retrofit.db")
    checkpoint: Path | None = None

    def check(self) -> None:
        from hwsim.errors import UserError

        if self.batch < 1 or self.epochs < 1:
            raise UserError("--batch" if self.batch < 1 else "--epochs", "must be a positive integer")

    def recipe(self) -> Any:
        """The fp32 training recipe (CPU, weight decay 1e-4)."""
        from hwsim.train import TrainRecipe

        return TrainRecipe.parse({"epochs": self.epochs, "batch_size": self.batch, "lr": self.lr, "seed": self.seed,
                                  "device": "cpu", "weight_decay": 1e-4}, where="train")

    def load_dataset(self, limit: int | None = None) -> Any:
        from hwsim.data import load_dataset

        return load_dataset(self.dataset, root=self.data_root, seed=self.seed, limit=limit, where="--dataset")

    def network(self, model: str, ds: Any, recipe: Any, limit: int | None = None) -> tuple[Any, str, bool]:
        """(fp32 network, its checkpoint, whether it was trained now): from ``--checkpoint``, else from the
        store's artefacts, else trained by ``recipe`` and kept there."""
        from hwsim.retrofit import artefact_dir, pretrained

        return pretrained(model, ds, recipe, artefacts=None if self.checkpoint else artefact_dir(self.db),
                          checkpoint=self.checkpoint, limit=limit)


def _training_params() -> list[tuple[str, Any, Any]]:
    import typer

    d = Fp32Training()
    return [
        ("dataset", str, typer.Option(d.dataset, "--dataset", "-d", rich_help_panel=TRAIN_PANEL,
                                      help="Data set (digits needs no download).")),
        ("data_root", str | None, typer.Option(d.data_root, "--data-root", rich_help_panel=TRAIN_PANEL,
                                               help="Folder holding IDX/CIFAR files.")),
        ("epochs", int, typer.Option(d.epochs, "--epochs", "-e", rich_help_panel=TRAIN_PANEL,
                                     help="Epochs of fp32 training (when not stored).")),
        ("lr", float, typer.Option(d.lr, "--lr", rich_help_panel=TRAIN_PANEL,
                                   help="Learning rate of fp32 training (retrofit fine-tunes at 1/10 of it).")),
        ("batch", int, typer.Option(d.batch, "--batch", "-b", rich_help_panel=TRAIN_PANEL,
                                    help="Batch size of fp32 training (and of retrofit's fine-tuning).")),
        ("seed", int, typer.Option(d.seed, "--seed", rich_help_panel=TRAIN_PANEL, help="Random seed.")),
        ("db", Path, typer.Option(d.db, "--db", rich_help_panel=TRAIN_PANEL,
                                  help="Results store whose artefacts keep the trained fp32 network.")),
        ("checkpoint", Path | None, typer.Option(d.checkpoint, "--checkpoint", rich_help_panel=TRAIN_PANEL,
                                                 help="Load the fp32 network from this state_dict (torch.save; "
                                                      "read weights-only) instead of the store's artefacts.")),
    ]


def fp32_training_options(verb: Any) -> Any:
    """Give ``verb`` the fp32-training options: they are added to its command-line signature and reach it
    as one ``fp32: Fp32Training`` argument."""
    return _option_group(verb, "fp32", _training_params(), Fp32Training)


def options_from(*, input: str | None = None, input_shape_alias: str | None = None, phase: str | None = None,
                 infer_alias: bool = False, **given: Any) -> WorkloadOptions:
    """A :class:`hwsim.workload.WorkloadOptions` from the parsed options, old spellings folded in."""
    from hwsim.errors import UserError
    from hwsim.workload import WorkloadOptions

    if input_shape_alias is not None:
        if input is not None and input != input_shape_alias:
            raise UserError("--input", "given twice (as --input and --input-shape) with different values")
        input = input_shape_alias
    if infer_alias:
        if phase not in (None, "infer"):
            raise UserError("--phase", f"--infer contradicts --phase {phase}")
        phase = "infer"
    return WorkloadOptions(input=input, phase=phase, **given)


# where= names the library uses for what the command line calls an option
_OPTION_OF = {"input_shape": "--input", "num_classes": "--classes", "optimizer": "--optimizer", "scheme": "--scheme"}


@contextlib.contextmanager
def option_names() -> Iterator[None]:
    """Inside this block a UserError raised deep in the library (``where="input_shape"``) names the option
    the user typed (``--input``)."""
    from hwsim.errors import UserError

    try:
        yield
    except UserError as e:
        head, dot, rest = e.where.partition(".")
        if head in _OPTION_OF:
            e.where = _OPTION_OF[head] + dot + rest
        elif e.where.endswith(".in_shape"):   # a built-in model's builder refusing the input
            e.where = "--input"
        raise
