"""The `zkgate` command as scripts use it: `--json` gives one JSON document on stdout for every
command (run against a real gateway with the digits model, and offline on the files it saved),
`--version`, help on every option with its default, shell completion, and a parser that imports
nothing heavy."""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from tests.fixtures.client_fixtures import ClientWorld
from tests.fixtures.gateway_fixtures import DIGITS, RegisteredModel, RunningGateway
from zkgate.client.cli.command_parser import DefaultsShownFormatter
from zkgate.client.cli.main import build_parser, main
from zkgate.core.command_loading import load_everything, subparsers_of

# The subcommands that run a gateway or a prover: long-running services, not scripted queries.
SERVICES = ("zkgate serve", "zkgate prover")


def _run_json(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, dict[str, object]]:
    code = main([*argv, "--json"])
    out = capsys.readouterr().out
    document = json.loads(out)  # exactly one document: json.loads refuses trailing text
    assert isinstance(document, dict)
    assert document["exit_code"] == code and document["ok"] is (code == 0)
    return code, document


def _leaves() -> Iterator[tuple[str, argparse.ArgumentParser]]:
    parsers = subparsers_of(load_everything(build_parser()))
    for prog, parser in parsers.items():
        if not any(isinstance(a, argparse._SubParsersAction) for a in parser._actions):
            yield prog, parser


def test_building_the_parser_imports_nothing_heavy() -> None:
    """`zkgate --help` on a full install must not pay for torch, ezkl, onnxruntime, grpc or
    numpy: the plugins' commands are registered without them (timed in bench/cli_startup.py)."""
    script = (
        "import sys; from zkgate.client.cli.main import build_parser; build_parser(); "
        "print(' '.join(sorted(sys.modules)))"
    )
    loaded = set(
        subprocess.run(
            [sys.executable, "-c", script], capture_output=True, text=True, check=True, timeout=60
        ).stdout.split()
    )
    heavy = ("torch", "onnxruntime", "ezkl", "grpc", "numpy", "psycopg", "aiohttp")
    assert sorted(m for m in loaded if m.split(".")[0] in heavy) == []


def test_every_option_has_help_and_shows_its_default() -> None:
    missing = []
    for prog, parser in subparsers_of(load_everything(build_parser())).items():
        formatter = DefaultsShownFormatter(prog)
        for action in parser._actions:
            if isinstance(action, argparse._HelpAction | argparse._SubParsersAction):
                continue
            text = formatter._get_help_string(action) or ""
            name = "/".join(action.option_strings) or action.dest
            if not (action.help or "").strip():
                missing.append(f"{prog} {name}: no help")
            elif (
                action.option_strings
                and action.default not in (None, False, "", [], argparse.SUPPRESS)
                and "default" not in text
            ):
                missing.append(f"{prog} {name}: default {action.default!r} not shown")
        parser.format_help()  # a stray % in any help text raises here
    assert missing == []


def test_every_command_takes_json() -> None:
    lacking = [
        prog
        for prog, parser in _leaves()
        if prog not in SERVICES
        and not prog.startswith("zkgate completion")
        and not any("--json" in a.option_strings for a in parser._actions)
    ]
    assert lacking == []


def test_version_lists_the_installed_packages(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--version"]) == 0
    assert "zkgate-client 0.1.0" in capsys.readouterr().out.splitlines()
    assert main(["--json", "--version"]) == 0
    versions = json.loads(capsys.readouterr().out)["versions"]
    assert versions["zkgate-client"] == "0.1.0" and "ezkl" in versions


@pytest.mark.parametrize("shell", ["bash", "zsh"])
def test_completion_scripts_cover_every_command(
    shell: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["completion", shell]) == 0
    script = capsys.readouterr().out
    for word in ("verify", "models", "--allow-insecure-srs", "serve", "--data-dir", "pol"):
        assert word in script


@pytest.mark.skipif(shutil.which("bash") is None, reason="no bash")
def test_bash_sources_the_completion_script() -> None:
    zkgate = Path(sys.executable).with_name("zkgate")
    done = subprocess.run(
        ["bash", "-c", f"source <({zkgate} completion bash) && complete -p zkgate"],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "PATH": f"{zkgate.parent}:{os.environ['PATH']}"},
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().endswith(" zkgate")


@pytest.mark.skipif(shutil.which("zsh") is None, reason="no zsh")
def test_zsh_parses_the_completion_script(tmp_path: Path) -> None:
    zkgate = Path(sys.executable).with_name("zkgate")
    script = tmp_path / "_zkgate"
    script.write_text(subprocess.run([zkgate, "completion", "zsh"], capture_output=True,
                                     text=True, check=True, timeout=60).stdout)  # fmt: skip
    done = subprocess.run(["zsh", "-n", str(script)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr


def test_srs_identity_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import ezkl

    srs = tmp_path / "k1.srs"
    ezkl.gen_srs(str(srs), 1)
    code, document = _run_json(["srs-identity", str(srs)], capsys)
    assert code == 0 and document["logrows"] == 1 and len(str(document["identity"])) == 64


def test_a_refusal_is_one_json_document_too(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, document = _run_json(
        ["verify-accuracy", str(tmp_path / "missing.json"), "--examples", "x", "--labels", "y",
         "--commitment", "0" * 64, "--batch-commitment", "0" * 64, "--bundle", "b",
         "--gateway-key", "0" * 64],
        capsys,
    )  # fmt: skip
    assert code == 2 and document["errors"]
    code, document = _run_json(["models", "list", "--no-such-flag"], capsys)
    assert code == 2 and document["errors"]


def test_every_gateway_command_answers_in_json(
    gateway: RunningGateway,
    digits: RegisteredModel,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    target = ["--target", gateway.target]
    x = tmp_path / "x.npy"
    np.save(x, np.load(DIGITS / "test_inputs.npy")[3])
    save = tmp_path / "saved"
    code, inferred = _run_json(
        ["infer", digits.name, "--input", str(x), "--prove", "--verify", "--save", str(save),
         "--allow-insecure-srs", "--commitment", digits.commitment, *target],
        capsys,
    )  # fmt: skip
    assert code == 0, inferred
    [row] = inferred["predictions"]  # type: ignore[misc]
    assert row["verified"] is True and row["commitment"] == digits.commitment
    statuses = {check["status"] for check in row["checks"]}
    assert statuses == {"ok", "warning"}  # the development SRS: accepted, as a warning

    code, verified = _run_json(
        ["verify", "--bundle", str(save / "bundle"), "--prediction", str(save / "prediction.json"),
         "--proof", str(save / "proof.json"), "--commitment", digits.commitment,
         "--gateway-key", f"@{save / 'gateway.key'}", "--allow-insecure-srs"],
        capsys,
    )  # fmt: skip
    assert code == 0 and verified["verified"] is True

    code, listed = _run_json(["models", "list", *target], capsys)
    assert code == 0 and digits.name in {v["name"] for v in listed["versions"]}  # type: ignore[union-attr]
    code, shown = _run_json(["models", "show", digits.name, *target], capsys)
    assert code == 0 and shown["card"]["commitment"] == digits.commitment  # type: ignore[index]
    code, fetched = _run_json(
        ["models", "fetch", digits.name, "--out", str(tmp_path / "bundle"), *target], capsys
    )
    assert code == 0 and Path(str(fetched["bundle"])).is_dir()
    code, chosen = _run_json(["models", "default", digits.name, "1", *target], capsys)
    assert code == 0 and chosen["default"]["version"] == 1  # type: ignore[index]
    code, synced = _run_json(["models", "sync", *target], capsys)
    # This gateway has no model repository: refused, and said so in the document.
    assert code == 0 or synced["errors"]

    code, contested = _run_json(
        ["contest", str(save / "prediction.json"), "-k", "1", "--commitment", digits.commitment,
         "--allow-insecure-srs", "--evidence-dir", str(tmp_path), *target],
        capsys,
    )  # fmt: skip
    assert code == 0 and contested["accepted"] is True

    code, refused = _run_json(["models", "show", "no-such-model", *target], capsys)
    assert code == 1 and "NOT_FOUND" in str(refused["errors"])

    code, added = _run_json(
        ["models", "add", "scripted", str(DIGITS / "model.onnx"), "--calibration",
         str(DIGITS / "calibration.npy"), "--no-wait", *target],
        capsys,
    )  # fmt: skip
    assert code == 0 and added["ready"] is False and added["job_id"]
    code, removed = _run_json(["models", "remove", "scripted", *target], capsys)
    assert code == 0 and [r["name"] for r in removed["removed"]] == ["scripted"]  # type: ignore[union-attr]


def test_verify_prints_no_library_warnings(client_world: ClientWorld, tmp_path: Path) -> None:
    """ezkl logs ("WARNING ... Using 5 columns for non-linearity table") reach the terminal only
    under --verbose: a whole `zkgate verify` process, its stderr included, says only its own."""
    case = tmp_path / "case"
    case.mkdir()
    client_world.bundle.save(case / "bundle")
    (case / "prediction.json").write_text(client_world.honest_prediction().to_json())
    (case / "proof.json").write_bytes(client_world.proof)
    argv = [
        str(Path(sys.executable).with_name("zkgate")),
        "verify",
        "--bundle", str(case / "bundle"),
        "--prediction", str(case / "prediction.json"),
        "--proof", str(case / "proof.json"),
        "--commitment", client_world.commitment,
        "--gateway-key", client_world.gateway_key.hex(),
        "--allow-insecure-srs",
    ]  # fmt: skip
    quiet = subprocess.run(argv, capture_output=True, text=True, timeout=120)
    assert quiet.returncode == 0, quiet.stderr
    assert quiet.stdout.rstrip().endswith("VERIFIED")
    assert quiet.stderr == ""
    assert not [line for line in quiet.stdout.splitlines() if "WARNING" in line]
    verbose = subprocess.run(
        [argv[0], "--verbose", *argv[1:]], capture_output=True, text=True, timeout=120
    )
    assert verbose.returncode == 0 and " ezkl" in verbose.stderr  # what was kept out
