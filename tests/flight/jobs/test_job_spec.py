"""JOB_START's config checked on board: defaults filled in, every field's type and range, its name in the refusal.

``parse_job_config`` is what refuses a bad job at acceptance (the supervisor's JOB_START check), so each
refusal must be a CommandError whose field is ``config.<name>`` (or ``config``/``kind`` for the whole),
and no text whatever may make it raise anything else.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from flight.jobs.configs import CONFIGS
from flight.jobs.job_spec import GEMMA, INFER, KINDS, MAX_PROMPT, TRAIN, parse_job_config
from flight.link.errors import CommandError


def refused(kind: str, config: Any) -> CommandError:
    """The CommandError parse_job_config raises for ``config`` (a dict is sent as JSON)."""
    text = config if isinstance(config, str) else json.dumps(config)
    with pytest.raises(CommandError) as caught:
        parse_job_config(kind, text)
    return caught.value


def test_an_empty_train_config_gets_every_default() -> None:
    assert parse_job_config("TRAIN", "") == {"config": "shakespeare_cpu", "max_iters": None, "eval_interval": None,
                                             "seed": 1337, "checkpoint_interval": 100, "log_interval": 10,
                                             "keep": 3, "deterministic": False, "scrub": True,
                                             "shadow_interval": 25, "guard": True}
    assert parse_job_config("TRAIN", "  {} ") == parse_job_config("TRAIN", "   ")


def test_an_empty_infer_config_gets_every_default() -> None:
    settings_ = parse_job_config("INFER", "{}")
    assert settings_ == {name: spec.default for name, spec in INFER.items()}
    assert settings_["model"] == GEMMA and settings_["greedy"] is True and settings_["max_new_tokens"] == 64


def test_given_values_replace_the_defaults_and_the_rest_stay() -> None:
    settings_ = parse_job_config("TRAIN", json.dumps({"config": "shakespeare_char", "max_iters": 50, "keep": 1}))
    assert settings_ == {"config": "shakespeare_char", "max_iters": 50, "eval_interval": None, "seed": 1337,
                         "checkpoint_interval": 100, "log_interval": 10, "keep": 1, "deterministic": False,
                         "scrub": True, "shadow_interval": 25, "guard": True}


def test_every_known_training_config_is_accepted() -> None:
    for name in CONFIGS:
        assert parse_job_config("TRAIN", json.dumps({"config": name}))["config"] == name


def test_max_iters_may_be_null_meaning_the_configs_own() -> None:
    assert parse_job_config("TRAIN", '{"max_iters": null}')["max_iters"] is None


def test_an_integer_is_accepted_for_a_float_and_becomes_a_float() -> None:
    temperature = parse_job_config("INFER", '{"temperature": 1}')["temperature"]
    assert temperature == 1.0 and isinstance(temperature, float)


def test_the_bounds_of_every_range_are_inclusive() -> None:
    for kind, table in KINDS.items():
        for name, spec in table.items():
            if spec.low is None:
                continue
            for bound in (spec.low, spec.high):
                value = spec.kind(bound)
                assert parse_job_config(kind, json.dumps({name: value}))[name] == value


@pytest.mark.parametrize(("kind", "name"), [(kind, name) for kind, table in KINDS.items()
                                            for name, spec in table.items() if spec.low is not None])
def test_a_value_just_outside_its_range_is_refused_with_its_field_named(kind: str, name: str) -> None:
    spec = KINDS[kind][name]
    step = 1 if spec.kind is int else 1e-3 * max(1.0, abs(spec.low))  # type: ignore[arg-type]
    for value in (spec.kind(spec.low - step), spec.kind(spec.high + step)):  # type: ignore[operator]
        error = refused(kind, {name: value})
        assert error.field == f"config.{name}" and "out of" in str(error)


@pytest.mark.parametrize(("kind", "name", "value"), [
    ("TRAIN", "max_iters", "100"),
    ("TRAIN", "max_iters", 10.0),
    ("TRAIN", "max_iters", True),
    ("TRAIN", "seed", False),
    ("TRAIN", "config", 3),
    ("TRAIN", "keep", [3]),
    ("TRAIN", "log_interval", {"n": 1}),
    ("INFER", "greedy", 1),
    ("INFER", "greedy", "true"),
    ("INFER", "temperature", "0.5"),
    ("INFER", "temperature", True),
    ("INFER", "top_k", 4.0),
    ("INFER", "prompt", 12),
    ("INFER", "model", None),
    ("INFER", "seed", None),
])
def test_a_value_of_the_wrong_type_is_refused_with_its_field_named(kind: str, name: str, value: Any) -> None:
    error = refused(kind, {name: value})
    assert error.field == f"config.{name}" and "is not a" in str(error)


@pytest.mark.parametrize("value", [True, False])
def test_a_bool_is_not_an_integer(value: bool) -> None:
    for name, spec in TRAIN.items():
        if spec.kind is int:
            assert refused("TRAIN", {name: value}).field == f"config.{name}"


def test_an_unknown_training_config_is_refused_naming_the_known_ones() -> None:
    error = refused("TRAIN", {"config": "gpt2-xl"})
    assert error.field == "config.config"
    assert all(name in str(error) for name in CONFIGS)


@pytest.mark.parametrize(("kind", "config", "unknown"), [
    ("TRAIN", {"max_iter": 5}, "max_iter"),
    ("TRAIN", {"prompt": "x"}, "prompt"),  # an INFER setting in a TRAIN job
    ("INFER", {"max_iters": 5}, "max_iters"),
    ("INFER", {"zeta": 1, "alpha": 2}, "alpha"),  # the first in order is named
])
def test_an_unknown_setting_is_refused_with_its_name(kind: str, config: dict[str, Any], unknown: str) -> None:
    error = refused(kind, config)
    assert error.field == f"config.{unknown}" and "unknown setting" in str(error)


@pytest.mark.parametrize("text", ["{", "max_iters=5", "{'max_iters': 5}", "{\"a\": }", "nul"])
def test_text_that_is_not_json_is_refused_as_config(text: str) -> None:
    error = refused("TRAIN", text)
    assert error.field == "config" and "not JSON" in str(error)


@pytest.mark.parametrize("text", ["[]", "[1, 2]", "3", "\"text\"", "null", "true"])
def test_json_that_is_not_an_object_is_refused_as_config(text: str) -> None:
    for kind in KINDS:
        error = refused(kind, text)
        assert error.field == "config" and "JSON object" in str(error)


@pytest.mark.parametrize("kind", ["", "train", "EVAL", "TRAIN "])
def test_an_unknown_kind_is_refused_as_kind(kind: str) -> None:
    error = refused(kind, "{}")
    assert error.field == "kind" and "TRAIN" in str(error) and "INFER" in str(error)


@pytest.mark.parametrize("model", [GEMMA, "job:1", "job:42", f"job:{2**32 - 1}"])
def test_the_gemma_model_or_a_training_jobs_checkpoint_is_accepted(model: str) -> None:
    assert parse_job_config("INFER", json.dumps({"model": model}))["model"] == model


@pytest.mark.parametrize("model", ["job:0", "job:", "job:-1", "job:+1", "job: 1", "job:1.5", "job:x",
                                   f"job:{2**32}", "1", "JOB:1", "gemma3", "gemma3-270m ",
                                   "job:\u0661", "job:\u00b2", "job:1\u00b9"])  # digits, but not ASCII ones
def test_any_other_model_is_refused_as_config_model(model: str) -> None:
    error = refused("INFER", {"model": model})
    assert error.field == "config.model" and GEMMA in str(error)


def test_a_prompt_up_to_the_limit_is_accepted_and_a_longer_one_refused() -> None:
    assert parse_job_config("INFER", json.dumps({"prompt": "x" * MAX_PROMPT}))["prompt"] == "x" * MAX_PROMPT
    error = refused("INFER", {"prompt": "x" * (MAX_PROMPT + 1)})
    assert error.field == "config.prompt" and str(MAX_PROMPT) in str(error)


def test_an_empty_prompt_is_refused() -> None:
    assert refused("INFER", {"prompt": ""}).field == "config.prompt"


@settings(max_examples=200, deadline=None)
@given(kind=st.sampled_from([*KINDS, "OTHER"]), text=st.text(max_size=200))
def test_arbitrary_text_raises_nothing_but_command_error(kind: str, text: str) -> None:
    try:
        parse_job_config(kind, text)
    except CommandError as error:
        assert error.field == "kind" or error.field.startswith("config")


json_values = st.recursive(st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
                           lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner,
                                                                                       max_size=3),
                           max_leaves=8)


@settings(max_examples=200, deadline=None)
@given(kind=st.sampled_from(list(KINDS)),
       config=st.dictionaries(st.sampled_from(sorted({*TRAIN, *INFER, "other"})), json_values, max_size=4))
def test_arbitrary_json_objects_are_accepted_complete_or_refused_naming_a_field(kind: str,
                                                                                 config: dict[str, Any]) -> None:
    try:
        settings_ = parse_job_config(kind, json.dumps(config))
    except CommandError as error:
        assert error.field.startswith("config.")
        return
    assert set(settings_) == set(KINDS[kind])
    json.dumps(settings_, allow_nan=False)  # what the job table stores: plain, finite JSON


def test_defaults_given_by_the_supervisor_replace_the_tables_and_are_checked_alike() -> None:
    settings = parse_job_config("TRAIN", '{"scrub": false}', {"scrub": True, "shadow_interval": 5})
    assert (settings["scrub"], settings["shadow_interval"], settings["guard"]) == (False, 5, True)
    with pytest.raises(CommandError, match="config.shadow_interval"):
        parse_job_config("TRAIN", "", {"shadow_interval": -1})
