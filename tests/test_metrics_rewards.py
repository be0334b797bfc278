import pytest

from agent_r1.envs.metrics import best_over_answers, cover_exact_match, exact_match, f1, normalize_answer
from agent_r1.envs.rewards import PRESETS, RewardSpec, resolve_reward


def test_official_normalisation():
    assert normalize_answer("The  Eiffel Tower!") == "eiffel tower"
    assert normalize_answer("an Apple, a day") == "apple day"


def test_exact_match_and_f1():
    assert exact_match("the Eiffel tower", "Eiffel Tower") == 1.0
    assert exact_match("Eiffel", "Eiffel Tower") == 0.0
    assert f1("Eiffel", "Eiffel Tower") == pytest.approx(2 / 3)
    assert f1("Paris France", "London") == 0.0


def test_yes_no_answers_get_no_partial_credit():
    assert f1("yes it is", "yes") == 0.0
    assert f1("no", "no") == 1.0


def test_cover_exact_match_needs_whole_words():
    assert cover_exact_match("It was built in Paris, France.", "Paris") == 1.0
    assert cover_exact_match("Parisian", "Paris") == 0.0
    assert cover_exact_match("anything", "the") == 0.0  # an empty normalised gold covers nothing


def test_best_over_aliases():
    assert best_over_answers(exact_match, "NYC", ["New York City", "NYC"]) == 1.0
    assert best_over_answers(exact_match, "x", []) == 0.0


def test_reward_spec_weighs_named_components():
    spec = RewardSpec.from_preset("process")
    components = {"format": -1.0, "new_gold_passage": 2.0, "answer_f1": 0.5}
    assert spec.total(components) == pytest.approx(-0.1 + 0.2 + 0.5)
    assert RewardSpec.from_preset("outcome").total(components) == 0.5


def test_resolve_reward_rejects_unknown_presets_and_components():
    assert resolve_reward("outcome").weights == PRESETS["outcome"]
    assert resolve_reward({"answer_em": 1.0}).total({"answer_em": 1.0}) == 1.0
    with pytest.raises(ValueError, match="unknown reward preset 'dense'"):
        resolve_reward("dense")
    with pytest.raises(ValueError, match="unknown reward component"):
        resolve_reward({"answer_fl": 1.0})
