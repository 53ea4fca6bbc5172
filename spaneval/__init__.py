"""spaneval: pretrain SpanBERT and BERT baselines, fine-tune and evaluate them side by side on span tasks.

The repository keeps `tasks/`, `pretrain/` and `dashboards/` as top-level folders; installed, they are
the subpackages `spaneval.tasks`, `spaneval.pretrain` and `spaneval.dashboards` (pyproject.toml's
`package-dir`), so the distribution claims no generic top-level names. A source checkout used without
installing it (`PYTHONPATH=$PWD`, as `scripts/gpu_checks.sh` runs on a bare GPU machine) finds them
through `_CheckoutSubpackages` below; an install never needs it.
"""

from __future__ import annotations

import importlib.abc
import importlib.util
import sys
from pathlib import Path

__version__ = "0.1.0"

SUBPACKAGES = ("tasks", "pretrain", "dashboards")  # repository folder = name under spaneval


class _CheckoutSubpackages(importlib.abc.MetaPathFinder):
    """Resolves `spaneval.<name>` to the checkout's `<name>/` folder when it is not inside the package."""

    def __init__(self, root: Path):
        self.root = root

    def find_spec(self, fullname, path=None, target=None):
        package, _, name = fullname.partition(".")
        if package != __name__ or name not in SUBPACKAGES:
            return None
        init = self.root / name / "__init__.py"
        if not init.is_file():
            return None
        return importlib.util.spec_from_file_location(
            fullname, init, submodule_search_locations=[str(init.parent)]
        )


def _install_checkout_finder() -> None:
    here = Path(__file__).resolve().parent
    if all((here / name).is_dir() for name in SUBPACKAGES):
        return  # an installed wheel: the subpackages are inside this package
    root = here.parent
    if (root / "pyproject.toml").is_file() and not any(
        isinstance(f, _CheckoutSubpackages) for f in sys.meta_path
    ):
        # first, before an editable install's finder: another checkout of the same project (a git
        # worktree run with `python -m` from its root) must get its own folders, not the installed ones
        sys.meta_path.insert(0, _CheckoutSubpackages(root))


_install_checkout_finder()
