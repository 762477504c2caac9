import pytest

from callscout.config import Config, ConfigError, load_config


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
        ('colour = "blue"\n', "unknown setting 'colour'"),
        ('channels = "left"\n', "channels: 'left' is not one of"),
        ("beam_size = \n", "not valid TOML"),
        ('[speaker_roles]\nBob = "boss"\n', "speaker_roles"),
    ],
)
def test_bad_config_is_refused(tmp_path, text, message):
    file = tmp_path / "bad.toml"
    file.write_text(text)
    with pytest.raises(ConfigError, match=message):
        load_config(file, environ={})


def test_bad_environment_value():
    with pytest.raises(ConfigError, match="CALLSCOUT_BEAM_SIZE"):
        load_config(environ={"CALLSCOUT_BEAM_SIZE": "five"})
