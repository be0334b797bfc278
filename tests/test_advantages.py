import pytest
import torch

from agent_r1.trainer import advantages as adv
from agent_r1.trainer.rollout.trajectory import Trajectory


def episode(group, turns, obs=2):
    """A trajectory whose turns have the given (length, reward); `obs` observation tokens between turns."""
    t = Trajectory("test", seed=group, group=group, task_id=str(group), prompt_ids=[1, 2])
    for i, (length, reward) in enumerate(turns):
        t.append_model_turn([5] * length, [-1.0] * length, "stop")
        t.reward_last_turn(reward, {})
        if i < len(turns) - 1:
            t.append_observation([7] * obs)
    return t


BATCH = [
    episode(0, [(3, 0.1), (2, 1.0)]),
    episode(0, [(4, 0.0)]),
    episode(0, [(2, 0.1), (2, 0.1), (1, 0.0)]),
    episode(1, [(2, 1.0)]),
    episode(1, [(3, 0.5)]),
]


@pytest.mark.parametrize("name", sorted(adv.ESTIMATORS))
def test_every_estimator_is_zero_on_observation_tokens(name):
    for t, a in zip(BATCH, adv.ESTIMATORS[name](BATCH)):
        assert a.shape == (len(t.response_ids),)
        assert torch.all(a[torch.tensor(t.loss_mask) == 0] == 0)
        assert torch.isfinite(a).all()


def test_grpo_normalises_returns_within_each_group():
    a = adv.grpo(BATCH)
    returns = torch.tensor([1.1, 0.0, 0.2])
    expected = (returns - returns.mean()) / (returns.std(unbiased=False) + adv.EPS)
    assert [x[0].item() for x in a[:3]] == pytest.approx(expected.tolist(), abs=1e-5)
    assert a[3][0].item() == pytest.approx(1.0, abs=1e-4) and a[4][0].item() == pytest.approx(-1.0, abs=1e-4)
    assert adv.grpo(BATCH, scale_by_std=False)[3][0].item() == pytest.approx(0.25)
    assert torch.all(a[0][torch.tensor(BATCH[0].loss_mask) == 1] == a[0][0])  # one value per episode


def test_rloo_uses_the_other_members_as_baseline():
    a = adv.rloo(BATCH)
    assert a[0][0].item() == pytest.approx(1.1 - (0.0 + 0.2) / 2)
    assert a[3][0].item() == pytest.approx(0.5) and a[4][0].item() == pytest.approx(-0.5)


def test_reinforce_pp_credits_each_token_with_the_rewards_that_follow():
    togo = adv._returns_to_go(BATCH[0])
    mask = torch.tensor(BATCH[0].loss_mask, dtype=torch.bool)
    assert togo[mask].tolist() == pytest.approx([1.1, 1.1, 1.1, 1.0, 1.0])
    flat = torch.cat([a[torch.tensor(t.loss_mask, dtype=torch.bool)] for t, a in zip(BATCH, adv.reinforce_pp(BATCH))])
    assert flat.mean().item() == pytest.approx(0.0, abs=1e-5) and flat.std(unbiased=False).item() == pytest.approx(1.0, abs=1e-4)


def test_turn_level_uses_process_rewards():
    a = adv.turn_level(BATCH)
    first, second = BATCH[0].turn_spans
    # The first turn of episode 0 is credited 0.1 + 1.0, its second turn 1.0: they differ.
    assert a[0][first[0]].item() > a[0][second[0]].item()
    # Episode 2's three turns: 0.2, 0.1, 0.0 to go, in decreasing order.
    values = [a[2][s].item() for s, _ in BATCH[2].turn_spans]
    assert values == sorted(values, reverse=True)


def test_gae_skips_observation_tokens():
    rewards = torch.tensor([0.0, 1.0, 0.0, 0.0, 2.0])
    values = torch.tensor([0.5, 0.5, 9.0, 9.0, 0.5])  # the 9s sit on observation tokens
    mask = torch.tensor([1.0, 1.0, 0.0, 0.0, 1.0])
    advantages, returns = adv.gae(rewards, values, mask, gamma=1.0, lam=1.0)
    # With lambda = 1 the advantage is the return to go minus the value; observations add nothing.
    assert advantages.tolist() == pytest.approx([3.0 - 0.5, 3.0 - 0.5, 0.0, 0.0, 2.0 - 0.5])
    assert returns.tolist() == pytest.approx([3.0, 3.0, 0.0, 0.0, 2.0])
    lam0, _ = adv.gae(rewards, values, mask, gamma=1.0, lam=0.0)
    assert lam0.tolist() == pytest.approx([0.0 + 0.5 - 0.5, 1.0 + 0.5 - 0.5, 0.0, 0.0, 2.0 - 0.5])


@pytest.mark.parametrize("name", adv.WHOLE_BATCH)
def test_batch_normalisation_split_over_two_processes_equals_the_whole_batchs(name):
    """Data-parallel training: each process holds some groups; the sums of the others come through `sum_across`."""
    first, second = BATCH[:3], BATCH[3:]  # group 0 on one process, group 1 on the other

    def sums(part):
        values = torch.cat([adv._returns_to_go(t)[torch.tensor(t.loss_mask, dtype=torch.bool)] for t in part])
        if name == "reinforce_pp_baseline":  # the same values the estimator normalises
            mean = {t.group: sum(u.episode_return for u in part if u.group == t.group) / sum(u.group == t.group for u in part)
                    for t in part}
            values = torch.cat([(adv._returns_to_go(t) - mean[t.group])[torch.tensor(t.loss_mask, dtype=torch.bool)] for t in part])
        values = values.double()
        return torch.stack([torch.tensor(float(values.numel()), dtype=torch.float64), values.sum(), (values * values).sum()])

    whole = adv.ESTIMATORS[name](BATCH)
    split = (adv.ESTIMATORS[name](first, sum_across=lambda s: s + sums(second))
             + adv.ESTIMATORS[name](second, sum_across=lambda s: s + sums(first)))
    for a, b in zip(whole, split):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)
    # Without the other process's sums, each half would be normalised on its own: different advantages.
    alone = adv.ESTIMATORS[name](first)
    assert not all(torch.allclose(a, b) for a, b in zip(whole[:3], alone))


def test_gamma_discounts_later_rewards_per_model_token_and_per_turn():
    # BATCH[0]: a turn of 3 tokens (reward 0.1 on its last), 2 observation tokens, a turn of 2 tokens (reward 1.0).
    togo = adv._returns_to_go(BATCH[0], gamma=0.5)
    mask = torch.tensor(BATCH[0].loss_mask, dtype=torch.bool)
    # Model tokens, last first: 1.0, then 0.5; the observation tokens are skipped, so the first turn's last token
    # gets 0.1 + 0.5 * 0.5, and the discount goes on from there.
    assert togo[mask].tolist() == pytest.approx([0.35 * 0.25, 0.35 * 0.5, 0.35, 0.5, 1.0])
    assert torch.all(togo[~mask] == 0)
    assert adv._returns_to_go(BATCH[0], gamma=1.0)[mask].tolist() == pytest.approx([1.1, 1.1, 1.1, 1.0, 1.0])
    # turn_level discounts per turn: BATCH[2]'s turns earn 0.1, 0.1, 0.0.
    assert adv._discounted_sums([0.1, 0.1, 0.0], 0.5).tolist() == pytest.approx([0.15, 0.1, 0.0])


def test_gamma_is_refused_where_there_is_nothing_to_discount():
    from agent_r1.trainer.train_config import TrainConfig

    with pytest.raises(ValueError, match="grpo scores whole episodes"):
        TrainConfig(gamma=0.9)
    with pytest.raises(ValueError, match="gamma must be above 0 and at most 1"):
        TrainConfig(algo="ppo", gamma=1.5)
    assert TrainConfig(algo="reinforce_pp", gamma=0.99).gamma == 0.99
