"""What `ganserve --help` promises: every command and flag described, `--version`, completion,
and the exit codes (0 ok, 1 failure, 2 usage error)."""

from __future__ import annotations

import os
import subprocess
import sys

import click
import pytest

from cli.main import ganserve, main
from models.training.config import TrainConfig
from tests.support.processes import ROOT


def all_commands() -> list[tuple[str, click.Command]]:
    found: list[tuple[str, click.Command]] = [("ganserve", ganserve)]
    found += [(f"ganserve {name}", command) for name, command in ganserve.commands.items()]
    return found


@pytest.mark.parametrize(("path", "command"), all_commands(), ids=[path for path, _ in all_commands()])
def test_every_command_and_flag_is_described_in_its_help(
    path: str, command: click.Command, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = path.split()[1:]
    assert main([*argv, "--help"]) == 0
    shown = " ".join(capsys.readouterr().out.split())
    assert command.help and command.help.split("\n")[0].strip() in shown
    for param in command.params:
        if isinstance(param, click.Option):
            assert param.help and len(param.help) > 10, f"{path} {param.opts}: no help"
            for flag in param.opts:
                assert flag in shown, f"{path}: {flag} not in --help"
        else:  # arguments are described in the command's text
            assert (param.name or "").upper() in shown, f"{path}: argument {param.name} not described"


def test_every_training_config_field_is_a_flag_with_its_description_as_help() -> None:
    train = ganserve.commands["train"]
    options = {param.name: param for param in train.params if isinstance(param, click.Option)}
    for name, field in TrainConfig.model_fields.items():
        if name == "extra":
            continue
        assert field.description, f"TrainConfig.{name} has no description to show as help"
        option = options[name]
        assert option.opts == ["--" + name.replace("_", "-")]
        assert option.help is not None and field.description[1:] in option.help


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--version"]) == 0
    assert capsys.readouterr().out.startswith("ganserve 0.")


@pytest.mark.parametrize(
    "argv",
    [
        ["train", "--no-such-flag"],
        ["train", "--steps", "many"],
        ["train", "--ema", "perhaps"],
        ["sample"],
        ["frobnicate"],
        ["up", "--workers", "0"],
        ["evaluate", "model", "--samples", "1"],
    ],
)
def test_usage_errors_exit_2_with_one_message(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "Usage: ganserve" in err and "Error:" in err and "Traceback" not in err


def test_a_failure_exits_1(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["info", "/nonexistent.safetensors"]) == 1
    assert capsys.readouterr().err.startswith("ganserve info: error: ")


def test_data_dir_before_the_command_means_the_same(
    tmp_path: object, capsys: pytest.CaptureFixture[str]
) -> None:
    # An empty data folder has no model "nothing": the error names the folder either way.
    assert main(["--data-dir", "/nonexistent-data", "info", "nothing"]) == 1
    assert "nothing" in capsys.readouterr().err


@pytest.mark.parametrize("shell", ["bash", "zsh", "fish"])
def test_completion_scripts(shell: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["completion", shell]) == 0
    assert "_GANSERVE_COMPLETE" in capsys.readouterr().out


def test_completion_completes_commands_and_flags() -> None:
    def complete(words: str) -> str:
        env = {**os.environ, "_GANSERVE_COMPLETE": "bash_complete", "COMP_WORDS": words, "COMP_CWORD": "1"}
        env["COMP_CWORD"] = str(len(words.split()) - (0 if words.endswith(" ") else 1))
        code = "import sys; from cli.main import main; sys.exit(main())"
        done = subprocess.run([sys.executable, "-c", code], env=env, cwd=ROOT, capture_output=True, text=True)
        return done.stdout

    assert "plain,train" in complete("ganserve tr")
    assert "plain,--g-width" in complete("ganserve train --g-w")
