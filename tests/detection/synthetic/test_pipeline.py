"""run_pipeline writes only under its root: scene and variant names that are not plain relative
names are refused before any step runs (renaming them would break splits.json)."""

from __future__ import annotations

from pathlib import Path

import pytest

from detection.synthetic.benchmark import BENCH_SIZES
from detection.synthetic.pipeline import VARIANTS, Variant, run_pipeline

SMALL = BENCH_SIZES["small"].pipeline


@pytest.mark.parametrize(("scenes", "variants"), [
    ({"room_000": 1, "../../evil": 2}, VARIANTS),
    ({"/abs/room": 1}, VARIANTS),
    ({"": 1}, VARIANTS),
    ({"room_000": 1}, (Variant("../../evil", guided=False, sampling="random"),)),
])
def test_unsafe_names_are_refused_before_any_work(tmp_path: Path, scenes, variants) -> None:
    root = tmp_path / "a" / "b" / "root"
    with pytest.raises(ValueError, match="not a plain relative name"):
        run_pipeline(root, scenes, SMALL, variants, log=lambda _: None)
    assert list(tmp_path.iterdir()) == []
