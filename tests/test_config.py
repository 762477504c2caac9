import os
import shutil
import subprocess
import sys
from dataclasses import replace

import pytest
from typer.testing import CliRunner

from callscout.config import WHISPER_LANGUAGES, Config, ConfigError, load_config
from tests.conftest import FIXTURES


def test_precedence_flag_env_file_default(tmp_path):
    file = tmp_path / "callscout.toml"
    file.write_text('whisper_model = "small"\nbeam_size = 3\nchannels = "customer,agent"\n'
                    '[speaker_roles]\n"Sachbearbeiter" = "agent"\n')
    config = load_config(file, environ={"CALLSCOUT_BEAM_SIZE": "2"})
    assert config.whisper_model == "small"
    assert config.beam_size == 2
    assert config.channels == "customer,agent"
    assert config.speaker_roles == {"Sachbearbeiter": "agent"}
    assert config.with_overrides(whisper_model="/models/large-v3", language=None).whisper_model == "/models/large-v3"
    assert load_config(environ={}) == Config()


@pytest.mark.parametrize(
    "text, message",
    [
        ('batch_size = "eight"\n', "batch_size: 'eight' from {file} is not a whole number"),
        ("batch_size = 8.0\n", "batch_size: 8.0 from {file} is not a whole number"),
        ("batch_size = 0\n", "batch_size: 0 from {file} is less than 1"),
        ("beam_size = 0\n", "beam_size: 0 from {file} is less than 1"),
        ("batch_chunk_seconds = 40\n", "batch_chunk_seconds: 40 from {file} is more than 30"),
        ("cpu_threads = -1\n", "cpu_threads: -1 from {file} is less than 0"),
        ("batched = 1\n", "batched: 1 from {file} is not true or false"),
        ('batched = "false"\n', "batched: 'false' from {file} is not true or false"),
        ('language = "klingon"\n', "language: 'klingon' from {file} is not a language code Whisper knows (de, en, fr, ...)"),
        ('channels = "left,right"\n', "channels: 'left,right' from {file} is not one of agent,customer, customer,agent, mono"),
        ('compute_type = "int4"\n', "compute_type: 'int4' from {file} is not one of default, int8, int8_float16, "
                                   "int8_float32, int8_bfloat16, int16, float16, bfloat16, float32"),
        ("encoder = 5\n", "encoder: 5 from {file} is not a string"),
        ('[speaker_roles]\nBob = "boss"\n', "speaker_roles.Bob: 'boss' from {file} is not one of agent, customer, unknown"),
        ('speaker_roles = "agent"\n', "speaker_roles: 'agent' from {file} is not a table of label = agent | customer | unknown"),
        ("bach_size = 8\n", "{file}: unknown setting 'bach_size' (did you mean 'batch_size'?)"),
    ],
)
def test_bad_setting_in_file_is_one_line_naming_it(tmp_path, text, message):
    file = tmp_path / "callscout.toml"
    file.write_text(text)
    with pytest.raises(ConfigError) as info:
        load_config(file, environ={})
    assert str(info.value) == message.format(file=file)


def test_unknown_setting_without_a_close_name_lists_the_known_ones(tmp_path):
    file = tmp_path / "callscout.toml"
    file.write_text('colour = "blue"\n')
    with pytest.raises(ConfigError) as info:
        load_config(file, environ={})
    assert str(info.value).startswith(f"{file}: unknown setting 'colour' (known: batch_chunk_seconds, batch_fitted_windows,")


def test_broken_toml_is_one_line(tmp_path):
    file = tmp_path / "callscout.toml"
    file.write_text("beam_size = \n")
    with pytest.raises(ConfigError) as info:
        load_config(file, environ={})
    assert str(info.value).startswith(f"{file}: not valid TOML: ") and "\n" not in str(info.value)


@pytest.mark.parametrize(
    "environ, message",
    [
        ({"CALLSCOUT_DEVICE": "gpu"}, "device: 'gpu' from environment variable CALLSCOUT_DEVICE is not one of auto, cpu, cuda"),
        ({"CALLSCOUT_BATCHED": "flase"},
         "batched: 'flase' from environment variable CALLSCOUT_BATCHED is not one of true, false, 1, 0, yes, no"),
        ({"CALLSCOUT_BATCHED": "on"},
         "batched: 'on' from environment variable CALLSCOUT_BATCHED is not one of true, false, 1, 0, yes, no"),
        ({"CALLSCOUT_BEAM_SIZE": "five"}, "beam_size: 'five' from environment variable CALLSCOUT_BEAM_SIZE is not a whole number"),
        ({"CALLSCOUT_NUM_WORKERS": "0"}, "num_workers: 0 from environment variable CALLSCOUT_NUM_WORKERS is less than 1"),
        ({"CALLSCOUT_LANGUAGE": "klingon"},
         "language: 'klingon' from environment variable CALLSCOUT_LANGUAGE is not a language code Whisper knows (de, en, fr, ...)"),
    ],
)
def test_bad_environment_value_is_one_line_naming_the_variable(environ, message):
    with pytest.raises(ConfigError) as info:
        load_config(environ=environ)
    assert str(info.value) == message


@pytest.mark.parametrize("word, value", [("no", False), ("NO", False), ("0", False), ("False", False),
                                         ("yes", True), ("1", True), ("TRUE", True)])
def test_environment_booleans(word, value):
    assert load_config(environ={"CALLSCOUT_BATCHED": word}).batched is value


def test_environment_wins_over_file_and_is_named_when_bad(tmp_path):
    file = tmp_path / "callscout.toml"
    file.write_text('device = "gpu"\n')
    assert load_config(file, environ={"CALLSCOUT_DEVICE": "cpu"}).device == "cpu"
    with pytest.raises(ConfigError) as info:
        load_config(file, environ={})
    assert str(info.value) == f"device: 'gpu' from {file} is not one of auto, cpu, cuda"


@pytest.mark.parametrize(
    "overrides, message",
    [
        ({"language": "klingon"}, "language: 'klingon' from --language is not a language code Whisper knows (de, en, fr, ...)"),
        ({"channels": "left,right"}, "channels: 'left,right' from --channels is not one of agent,customer, customer,agent, mono"),
    ],
)
def test_overrides_are_checked_and_name_their_flag(overrides, message):
    with pytest.raises(ConfigError) as info:
        Config().with_overrides({"language": "--language", "channels": "--channels"}, **overrides)
    assert str(info.value) == message
    with pytest.raises(ConfigError) as info:  # without sources: the same line, less "from ..."
        Config().with_overrides(**overrides)
    assert str(info.value) == message.replace(f" from --{next(iter(overrides))}", "")


def test_config_is_frozen_and_checked_when_built_in_code():
    config = Config(language="de", num_workers=2)
    assert replace(config, language="en").language == "en" and config.language == "de"
    with pytest.raises(AttributeError):
        config.language = "en"
    with pytest.raises(ValueError):
        replace(config, device="gpu")


def test_language_codes_are_faster_whispers():
    from faster_whisper.tokenizer import _LANGUAGE_CODES

    assert WHISPER_LANGUAGES == tuple(_LANGUAGE_CODES)


def _callscout(*args, cwd, env):
    environ = {k: v for k, v in os.environ.items() if not k.startswith("CALLSCOUT_")}
    return subprocess.run([sys.executable, "-m", "callscout", *map(str, args)], capture_output=True, text=True,
                          cwd=cwd, env={**environ, **env}, timeout=120)


@pytest.mark.parametrize(
    "extra, env, message",
    [
        (["--language", "klingon"], {},
         "error: language: 'klingon' from --language is not a language code Whisper knows (de, en, fr, ...)"),
        (["--channels", "left,right"], {},
         "error: channels: 'left,right' from --channels is not one of agent,customer, customer,agent, mono"),
        ([], {"CALLSCOUT_DEVICE": "gpu"},
         "error: device: 'gpu' from environment variable CALLSCOUT_DEVICE is not one of auto, cpu, cuda"),
        (["--config", "callscout.toml"], {}, "error: batch_size: 'eight' from callscout.toml is not a whole number"),
    ],
)
def test_cli_refuses_a_bad_setting_before_touching_anything(tmp_path, extra, env, message):
    (tmp_path / "callscout.toml").write_text('batch_size = "eight"\n')
    call = shutil.copy(FIXTURES / "calls" / "kunde_hochzeit.txt", tmp_path / "call.txt")
    before = sorted((p.name, p.stat().st_mtime_ns) for p in tmp_path.iterdir())
    result = _callscout("process", "call.txt", "--catalogue", FIXTURES / "catalogues" / "finanz.yaml", "--db", "tmp.db",
                        *extra, cwd=tmp_path, env={"CALLSCOUT_ENCODER": "hashing", "CALLSCOUT_CONFIG": os.devnull, **env})
    assert result.returncode == 2
    assert result.stderr.splitlines() == [message]
    assert not (tmp_path / "tmp.db").exists()
    assert sorted((p.name, p.stat().st_mtime_ns) for p in tmp_path.iterdir()) == before
    assert call.read_text() == (FIXTURES / "calls" / "kunde_hochzeit.txt").read_text()


def test_models_list_uses_models_dir_from_the_config_file(tmp_path):
    models = tmp_path / "elsewhere"
    (models / "whisper-small").mkdir(parents=True)
    (models / "whisper-small" / "model.bin").write_bytes(b"x")
    (tmp_path / "callscout.toml").write_text(f'models_dir = "{models}"\n')
    result = _callscout("models", "list", "--config", "callscout.toml", cwd=tmp_path, env={})
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith(f"whisper-base\tmissing\t{models / 'whisper-base'}\t")
    assert lines[1] == f"whisper-small\tready\t{models / 'whisper-small'}\tlocal folder"


def test_models_install_uses_models_dir_from_the_config_file(tmp_path, monkeypatch):
    import callscout.asr.int8_model
    import callscout.asr.models
    import callscout.extract.encoders
    from callscout.cli.commands import app

    models = tmp_path / "elsewhere"
    (tmp_path / "callscout.toml").write_text(f'models_dir = "{models}"\n')
    monkeypatch.setattr(callscout.asr.models, "install_base", lambda folder: folder / "whisper-base")
    monkeypatch.setattr(callscout.asr.int8_model, "int8_copy", lambda path, folder: folder / "int8")
    monkeypatch.setattr(callscout.extract.encoders, "install_use_weights", lambda folder: folder / "use")
    monkeypatch.delenv("CALLSCOUT_MODELS_DIR", raising=False)
    result = CliRunner().invoke(app, ["models", "install", "--config", str(tmp_path / "callscout.toml")])
    assert result.exit_code == 0, result.output
    assert result.output.splitlines() == [
        f"whisper base ready at {models / 'whisper-base'}",
        f"its int8 copy for the CPU at {models / 'int8'}",
        f"sentence encoder weights at {models / 'use'}",
    ]
