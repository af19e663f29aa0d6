"""Schemes, networks and literature sources name their publication in ``citation`` (authors, year);
the older ``seed`` name is still read, with a deprecation note."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
YEAR = re.compile(r"(19|20)\d\d")


def test_every_scheme_and_network_cites_authors_and_year():
    from hwsim.models import MODELS
    from hwsim.models import load_all as load_models
    from hwsim.schemes import SCHEMES
    from hwsim.schemes import load_all as load_schemes

    load_schemes()
    load_models()
    for name, cls in SCHEMES.items():
        if cls.family != "fp32":
            assert YEAR.search(cls.citation), f"scheme {name}: {cls.citation!r}"
        assert "seed 00" not in cls.citation
    for name, spec in MODELS.items():
        assert YEAR.search(spec.citation), f"model {name}: {spec.citation!r}"
        assert "seed 00" not in spec.citation


def test_no_seed_numbers_left_in_code_docs_configs():
    hits = [f"{p.relative_to(ROOT)}:{i}" for d in ("hwsim", "docs", "configs")
            for p in (ROOT / d).rglob("*") if p.suffix in (".py", ".md", ".yaml")
            for i, line in enumerate(p.read_text().splitlines(), 1) if re.search(r"seeds? 00\d", line)]
    assert not hits, hits


def test_old_scheme_seed_attribute_becomes_citation():
    from hwsim.schemes.base import Scheme

    with pytest.warns(DeprecationWarning, match="'seed' is deprecated"):
        class Old(Scheme):
            seed = "Someone 2015"

            def convert(self, model):
                return model

    assert Old.citation == "Someone 2015"


def test_old_literature_seed_key_is_read_with_a_note(tmp_path):
    src = (ROOT / "configs" / "literature" / "graham2017.yaml").read_text()
    old = tmp_path / "old.yaml"
    old.write_text(src.replace("source:\n", "source:\n  seed: '004'\n", 1))
    code = ("import sys; from hwsim.sweep.schema import load_literature; "
            "lf, _ = load_literature(sys.argv[1]); print(lf.source.citation, len(lf.rows))")
    new = subprocess.run([sys.executable, "-c", code, str(ROOT / "configs/literature/graham2017.yaml")],
                         capture_output=True, text=True, check=True)
    r = subprocess.run([sys.executable, "-c", code, str(old)], capture_output=True, text=True, check=True)
    assert r.stdout == new.stdout
    assert "note:" in r.stderr and "'seed' is deprecated" in r.stderr and "old.yaml:" in r.stderr
    assert new.stderr == ""


def test_cli_lists_citations():
    r = subprocess.run([sys.executable, "-m", "hwsim.cli", "schemes", "--json"], capture_output=True, text=True,
                       check=True, cwd=ROOT)
    assert '"citation": "Graham 2017, Low-precision batch-normalized activations"' in r.stdout
    assert '"seed"' not in r.stdout
