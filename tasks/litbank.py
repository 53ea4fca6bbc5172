"""Where LitBank is, and the CoNLL files of one of its ten cross-validation folds."""

from __future__ import annotations

import os
from pathlib import Path

from spaneval.data_paths import shared_data_roots
from spaneval.errors import DataError, SpanevalError, excerpt
from spaneval.userfiles import read_text

LITBANK_HOW_TO_GET = (
    "LitBank (CC BY 4.0) is at https://github.com/dbamman/litbank: put its coref/conll/ and "
    "coref/tenfold_splits/ (or our copy, ../shared/data/coref/litbank) in one directory and set "
    "SPANEVAL_LITBANK=DIR or pass --data DIR"
)


def litbank_dir(explicit: str | os.PathLike | None = None) -> Path:
    """The LitBank directory (with conll/ and tenfold_splits/): `explicit`, $SPANEVAL_LITBANK,
    $SPANEVAL_SHARED_DATA/coref/litbank, or ../shared/data/coref/litbank beside the checkout."""
    candidates = [explicit, os.environ.get("SPANEVAL_LITBANK")]
    candidates += [root / "coref" / "litbank" for root in shared_data_roots()]
    for cand in candidates:
        if cand and (Path(cand) / "conll").is_dir():
            return Path(cand)
    raise SpanevalError(
        f"LitBank not found (looked in {', '.join(map(str, filter(None, candidates)))}). {LITBANK_HOW_TO_GET}"
    )


def litbank_split_files(root: Path, fold: int, split: str) -> list[Path]:
    """CoNLL files of one split ("train", "dev" or "test") of the standard 10-fold LitBank split.

    The split files list brat names (`105_persuasion_brat.tsv`); the CoNLL file has the same stem.
    """
    ids_path = root / "tenfold_splits" / str(fold) / f"{split}.ids"
    if not ids_path.is_file():
        raise SpanevalError(f"no LitBank split file {ids_path} (folds are 0-9; splits train, dev, test)")
    files = []
    for line_no, line in enumerate(read_text(ids_path).splitlines(), start=1):
        if not line.strip():
            continue
        path = root / "conll" / (Path(line.strip()).stem + ".conll")
        if not path.is_file():
            raise DataError(ids_path, f"line {line_no}", f"no CoNLL file {path} for {excerpt(line.strip())}")
        files.append(path)
    return files
