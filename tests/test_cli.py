"""CLI in process (help, ls, errors) and once as an installed package, from another directory."""

import subprocess
import sys
import venv
from pathlib import Path

import pytest

from spaneval.cli import BENCHES, main

REPO = Path(__file__).resolve().parents[1]


def test_help_lists_every_subcommand(capsys):
    with pytest.raises(SystemExit):
        main(["--help"])
    out = capsys.readouterr().out
    for cmd in ("run", "score", "pretrain", "quickstart", "report", "ls", "dashboard", "bench"):
        assert cmd in out


def test_ls_lists_tasks_models_presets_and_keys(capsys):
    assert main(["ls"]) == 0
    out = capsys.readouterr().out
    for name in (
        "squad",
        "squad_v2",
        "mrqa",
        "coref",
        "tacred",
        "semeval2010",
        "spanbert",
        "bert-large",
        "tiny",
        "paper",
        "spanbert-nosbo",
        "learning_rate",
        "passage_first",
        "segment_ids",
    ):
        assert name in out, name


@pytest.mark.parametrize(
    "argv, message",
    [
        (["run", "squad", "--model", "tiny", "max_seq_lne=3"], "Did you mean 'max_seq_len'"),
        (["run", "squad", "--model", "tiny", "--preset", "papr"], "Did you mean 'paper'"),
        (["run", "squad", "--model", "tiny", "--data", "/no/such/file.json"], "no data source"),
        (["run", "squad", "--model", "/no/such/model/dir"], "does not exist"),
        (["score", "squad", "--data", "x.json"], "needs --predictions"),
        (["score", "sqaud"], "Did you mean 'squad'"),
        (["bench", "qa-decod"], "Did you mean 'qa-decode'"),
        (["run"], "needs a task and --model"),
        (["report", "--results", "/no/such/results", "--output", "r.md"], "/no/such/results does not exist"),
        (["ls", "--preset", "papr"], "Did you mean 'paper'"),
        (["ls", "--preset", "sqad:paper"], "Did you mean 'squad'"),
        (["ls", "--preset", "squad:tiny"], "Known presets: squad:hf, squad:paper"),
    ],
)
def test_user_errors_are_one_line_messages(argv, message, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


def test_ls_preset_prints_its_values(capsys):
    assert main(["ls", "--preset", "squad:paper"]) == 0
    out = capsys.readouterr().out
    assert "Preset 'paper' of squad (python -m spaneval run squad --preset paper)" in out
    assert "learning_rate = 2e-05  (default 3e-05)" in out and "max_seq_len = 512  (default 384)" in out
    assert main(["ls", "--preset", "paper"]) == 0  # tasks sharing a preset are listed together
    assert "Preset 'paper' of squad, squad_v2, mrqa" in capsys.readouterr().out
    assert main(["ls", "--preset", "tiny"]) == 0  # a name in several scopes: every one is shown
    out = capsys.readouterr().out
    assert "of tacred, semeval2010" in out and "of pretrain" in out and "hidden_size = 128" in out


def test_unknown_positional_is_an_argparse_error(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["ls", "extra"])
    assert exit_info.value.code == 2


def test_every_benchmark_module_exists():
    import importlib

    for module in BENCHES.values():
        assert callable(importlib.import_module(module).main)


# Imported from a directory outside the checkout: the subpackages live under spaneval, nothing else.
# The checkout fallback (spaneval._CheckoutSubpackages) is removed first, so the install alone must
# resolve spaneval.tasks & co.
INSTALL_PROBE = (
    "import sys, pathlib, importlib.util, importlib.metadata, spaneval; "
    "sys.meta_path[:] = [f for f in sys.meta_path if type(f).__name__ != '_CheckoutSubpackages']; "
    "import spaneval.tasks.qa, spaneval.pretrain.train, spaneval.dashboards; "
    "assert all(importlib.util.find_spec(n) is None for n in ('tasks', 'pretrain', 'dashboards')); "
    "top = {pathlib.PurePath(str(f)).parts[0] for f in importlib.metadata.files('spaneval')}; "
    "assert not top & {'tasks', 'pretrain', 'dashboards'}, top; "
    "assert (pathlib.Path(spaneval.dashboards.__file__).parent / 'app.py').is_file(); "
    "print(spaneval.__file__, spaneval.tasks.qa.__file__)"
)


def _venv_install(tmp_path: Path, *pip_args: str) -> tuple[Path, Path]:
    env_dir = tmp_path / "venv"
    venv.EnvBuilder(system_site_packages=True, with_pip=True).create(env_dir)
    py = env_dir / "bin" / "python"
    subprocess.run(
        [py, "-m", "pip", "install", "-q", "--no-deps", *pip_args],
        check=True,
        capture_output=True,
        timeout=600,
        cwd=tmp_path,
    )
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    return py, elsewhere


@pytest.mark.slow
def test_non_editable_install_runs_from_any_directory(tmp_path):
    """`pip install .` (not -e) gives a working `python -m spaneval` with its bundled data, and puts
    tasks/, pretrain/ and dashboards/ inside the spaneval package."""
    py, elsewhere = _venv_install(tmp_path, str(REPO))
    probe = INSTALL_PROBE + (
        "; assert 'site-packages' in spaneval.tasks.qa.__file__, spaneval.tasks.qa.__file__"
        "; d = pathlib.Path(spaneval.__file__).parent / 'data'"
        "; assert (d / 'squad' / 'dev-sample.json').is_file() and (d / 'vocab').is_dir()"
        "; assert any((d / 'corpus').glob('*.txt.gz')) and any((d / 'coref').glob('*.conll'))"
    )
    subprocess.run([py, "-c", probe], check=True, cwd=elsewhere, timeout=120, env={"PATH": "/usr/bin:/bin"})
    out = subprocess.run(
        [py, "-m", "spaneval", "ls"], capture_output=True, text=True, cwd=elsewhere, timeout=120
    )
    assert out.returncode == 0 and "squad_v2" in out.stdout, out.stderr


@pytest.mark.slow
def test_editable_install_maps_the_checkout_folders_into_spaneval(tmp_path):
    """`pip install -e .`: spaneval.tasks is the checkout's tasks/ folder, found by the install itself."""
    py, elsewhere = _venv_install(tmp_path, "-e", str(REPO))
    qa_file = str(REPO / "tasks" / "qa.py")
    probe = INSTALL_PROBE + f"; assert spaneval.tasks.qa.__file__ == {qa_file!r}, spaneval.tasks.qa.__file__"
    subprocess.run([py, "-c", probe], check=True, cwd=elsewhere, timeout=120, env={"PATH": "/usr/bin:/bin"})
    out = subprocess.run(
        [py, "-m", "spaneval", "ls"], capture_output=True, text=True, cwd=elsewhere, timeout=120
    )
    assert out.returncode == 0 and "squad_v2" in out.stdout, out.stderr


def test_an_uninstalled_checkout_finds_the_subpackages(tmp_path):
    """PYTHONPATH=<checkout> without any install (scripts/gpu_checks.sh on a bare GPU machine)."""
    probe = (
        "import sys; sys.meta_path[:] = [f for f in sys.meta_path if 'editable' not in repr(f).lower()]; "
        "import spaneval; assert spaneval.__file__ == " + repr(str(REPO / "spaneval" / "__init__.py")) + "; "
        "import spaneval.tasks.registry, spaneval.pretrain.masking, spaneval.dashboards.views; "
        "print(spaneval.tasks.registry.__file__)"
    )
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(REPO)}
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, cwd=tmp_path, env=env)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == str(REPO / "tasks" / "registry.py")
