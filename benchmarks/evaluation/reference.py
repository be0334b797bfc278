"""Published numbers to compare against. These are the papers' figures, never our measurements."""

from __future__ import annotations

from agent_r1.envs.registration import DATASET_ENV_IDS

# Agent-R1 (USTC, 2025), Qwen2.5-3B-Instruct, exact match on HotpotQA, 2WikiMultihopQA, MuSiQue.
PAPER_EM: dict[str, dict[str, float]] = {
    "Base Tool Call": {"HotpotQA": 0.1372, "2Wiki": 0.0891, "MuSiQue": 0.0277},
    "Naive RAG": {"HotpotQA": 0.1916, "2Wiki": 0.1792, "MuSiQue": 0.0277},
    "PPO": {"HotpotQA": 0.4136, "2Wiki": 0.5468, "MuSiQue": 0.1552},
    "GRPO": {"HotpotQA": 0.4405, "2Wiki": 0.5741, "MuSiQue": 0.1485},
    "REINFORCE++": {"HotpotQA": 0.3768, "2Wiki": 0.4796, "MuSiQue": 0.1336},
    "RLOO": {"HotpotQA": 0.4089, "2Wiki": 0.5641, "MuSiQue": 0.1419},
}

_SHORT = {DATASET_ENV_IDS[name]: short for name, short in (("hotpotqa", "HotpotQA"), ("2wikimultihopqa", "2Wiki"),
                                                            ("musique", "MuSiQue"))}


def short_name(env_id: str) -> str:
    """A table column name: HotpotQA, 2Wiki, MuSiQue, or the id without its namespace and version."""
    if env_id in _SHORT:
        return _SHORT[env_id]
    return env_id.split("/")[-1].rsplit("-v", 1)[0]
