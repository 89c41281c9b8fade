"""Typed settings from defaults, a TOML table and the environment, checked once at start."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from coffer.protocol.settings import SettingsError, load, read_toml

SOURCE = "coffer.toml [server]"
PREFIX = "COFFER_TEST_"


@dataclass(frozen=True)
class Demo:
    name: str = "coffer"
    port: int = 8000
    ratio: float = 0.5
    debug: bool = False
    data_dir: Path = Path("var")
    limit: int | None = None
    label: str | None = None

    def __post_init__(self) -> None:
        if not 0 < self.port < 65536:
            raise ValueError(f"port must be 1-65535, not {self.port}")


def demo(table: dict[str, Any] | None = None, **environ: str) -> Demo:
    return load(Demo, table or {}, env_prefix=PREFIX, source=SOURCE, environ=environ)


def test_defaults_apply_when_nothing_is_set() -> None:
    assert demo() == Demo()


def test_toml_values_replace_defaults(tmp_path: Path) -> None:
    path = tmp_path / "coffer.toml"
    path.write_text(
        'name = "fs1"\nport = 8101\nratio = 0.75\ndebug = true\ndata_dir = "/srv/coffer"\nlimit = 10\nlabel = "a b"\n'
    )
    assert demo(read_toml(path)) == Demo(
        name="fs1", port=8101, ratio=0.75, debug=True, data_dir=Path("/srv/coffer"), limit=10, label="a b"
    )


def test_environment_overrides_toml() -> None:
    table = {"name": "from-toml", "port": 8101, "ratio": 0.75, "data_dir": "/toml"}
    settings = demo(
        table,
        COFFER_TEST_NAME="from-env",
        COFFER_TEST_PORT="9000",
        COFFER_TEST_RATIO="2.5",
        COFFER_TEST_DATA_DIR="/env",
        COFFER_TEST_LIMIT="7",
    )
    assert settings == Demo(name="from-env", port=9000, ratio=2.5, data_dir=Path("/env"), limit=7)


def test_process_environment_is_read_when_none_is_passed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COFFER_TEST_PORT", "9001")
    assert load(Demo, {}, env_prefix=PREFIX, source=SOURCE).port == 9001


def test_environment_variables_of_other_programs_are_ignored() -> None:
    assert demo(COFFER_OTHER_PORT="1", COFFER_TEST_UNKNOWN="x", PORT="2") == Demo()


def test_float_setting_accepts_a_toml_integer() -> None:
    settings = demo({"ratio": 2})
    assert settings.ratio == 2.0
    assert isinstance(settings.ratio, float)


def test_empty_environment_value_unsets_an_optional_setting() -> None:
    assert demo({"limit": 10, "label": "x"}, COFFER_TEST_LIMIT="", COFFER_TEST_LABEL="").limit is None


@pytest.mark.parametrize("text", ["1", "true", "TRUE", "True", "yes", "YES"])
def test_environment_true_values(text: str) -> None:
    assert demo(COFFER_TEST_DEBUG=text).debug is True


@pytest.mark.parametrize("text", ["0", "false", "FALSE", "no", "No"])
def test_environment_false_values(text: str) -> None:
    assert demo({"debug": True}, COFFER_TEST_DEBUG=text).debug is False


@pytest.mark.parametrize("text", ["", "maybe", "on", "off", "2", " true", "tru"])
def test_environment_bool_that_is_not_a_known_word_is_refused(text: str) -> None:
    with pytest.raises(SettingsError) as info:
        demo(COFFER_TEST_DEBUG=text)
    assert "environment variable COFFER_TEST_DEBUG" in str(info.value)
    assert "'debug' must be bool" in str(info.value)


@pytest.mark.parametrize(
    ("variable", "text", "kind"),
    [
        ("COFFER_TEST_PORT", "eighty", "int"),
        ("COFFER_TEST_PORT", "80.5", "int"),
        ("COFFER_TEST_PORT", "", "int"),
        ("COFFER_TEST_RATIO", "half", "float"),
        ("COFFER_TEST_LIMIT", "ten", "int"),
    ],
)
def test_environment_value_of_the_wrong_type_names_the_variable(variable: str, text: str, kind: str) -> None:
    with pytest.raises(SettingsError) as info:
        demo(None, **{variable: text})
    message = str(info.value)
    assert f"environment variable {variable}" in message
    assert f"must be {kind}" in message
    assert repr(text) in message


@hypothesis_settings(deadline=None)
@given(st.integers(min_value=1, max_value=65535))
def test_any_port_number_reads_back_from_the_environment(port: int) -> None:
    assert demo(COFFER_TEST_PORT=str(port)).port == port


WRONG_TOML_TYPES = [
    ("name", 5),
    ("name", ["fs1"]),
    ("port", "8000"),
    ("port", 8000.0),
    ("port", True),
    ("ratio", "0.5"),
    ("ratio", False),
    ("debug", 1),
    ("debug", "true"),
    ("data_dir", 5),
    ("data_dir", {"path": "/srv"}),
    ("limit", "10"),
    ("limit", True),
    ("label", 3),
]


@pytest.mark.parametrize(("key", "value"), WRONG_TOML_TYPES)
def test_toml_value_of_the_wrong_type_names_the_key_and_the_source(key: str, value: object) -> None:
    with pytest.raises(SettingsError) as info:
        demo({key: value})
    message = str(info.value)
    assert message.startswith(SOURCE + ":")
    assert f"'{key}'" in message
    assert repr(value) in message


def test_unknown_toml_keys_are_refused_with_the_known_ones_listed() -> None:
    with pytest.raises(SettingsError) as info:
        demo({"prot": 8000, "debgu": True, "port": 1})
    message = str(info.value)
    assert message.startswith(SOURCE + ":")
    assert "debgu, prot" in message
    assert "known: data_dir, debug, label, limit, name, port, ratio" in message


def test_value_the_settings_class_rejects_is_a_settings_error_naming_the_source() -> None:
    with pytest.raises(SettingsError, match="port must be 1-65535") as info:
        demo({"port": 70000})
    assert str(info.value).startswith(SOURCE + ":")


def test_settings_are_frozen() -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        demo().port = 1  # type: ignore[misc]


def test_settings_error_is_a_value_error() -> None:
    assert issubclass(SettingsError, ValueError)


def test_no_config_file_is_an_empty_table() -> None:
    assert read_toml(None) == {}


def test_toml_file_is_read_as_a_table(tmp_path: Path) -> None:
    path = tmp_path / "coffer.toml"
    path.write_text('[server]\nport = 8000\n[fileserver]\nurl = "http://127.0.0.1:8101"\n')
    assert read_toml(path) == {"server": {"port": 8000}, "fileserver": {"url": "http://127.0.0.1:8101"}}


def test_missing_config_file_is_a_settings_error_naming_it(tmp_path: Path) -> None:
    path = tmp_path / "absent.toml"
    with pytest.raises(SettingsError, match="does not exist") as info:
        read_toml(path)
    assert str(path) in str(info.value)


@pytest.mark.parametrize("text", ["port = ", "port = 1\nport = 2\n", "[server\n", "name = 'unterminated\n"])
def test_invalid_toml_is_a_settings_error_naming_the_file(tmp_path: Path, text: str) -> None:
    path = tmp_path / "coffer.toml"
    path.write_text(text)
    with pytest.raises(SettingsError, match="not valid TOML") as info:
        read_toml(path)
    assert str(path) in str(info.value)
