"""AgentR1/SynthHop: multi-hop QA over a fresh fictional world each episode."""

from __future__ import annotations

import numbers
import random
from typing import Any, Mapping, Sequence

from agent_r1.envs.qa_env import QAEnv, QATask
from agent_r1.envs.synthhop.questions import MAX_HOPS, QUESTION_TYPES, make_question
from agent_r1.envs.synthhop.world import generate_world
from agent_r1.tools.retriever import BM25Retriever


class SynthHopEnv(QAEnv):
    """Each reset draws a world seed from the env's RNG, builds the world, asks one question
    about it and indexes its gold passages plus `num_distractors` other passages of the world.

    The same reset seed always gives the same world and question. `reset(options=...)`
    may override `hops` (1 to 4) and `question_type` (chain, comparison) for one episode
    (curricula); any other value of those two is a ValueError.
    """

    def __init__(
        self,
        *,
        hops: int | Sequence[int] = 2,
        question_types: Sequence[str] = QUESTION_TYPES,
        num_distractors: int = 8,
        world_size: int = 40,
        max_turns: int | None = None,
        **kwargs: Any,
    ) -> None:
        self.hops = (hops,) if isinstance(hops, int) else tuple(hops)
        if not self.hops or any(not 1 <= h <= MAX_HOPS for h in self.hops):
            raise ValueError(f"hops must be between 1 and {MAX_HOPS}, got {hops}")
        unknown = set(question_types) - set(QUESTION_TYPES)
        if unknown or not question_types:
            raise ValueError(f"question_types must be a non-empty subset of {QUESTION_TYPES}, got {question_types}")
        if num_distractors < 0:
            raise ValueError(f"num_distractors must be non-negative, got {num_distractors}")
        self.question_types = tuple(question_types)
        self.num_distractors = num_distractors
        self.world_size = world_size
        # Room for one search per hop, the answer, and one mistake.
        super().__init__(max_turns=max_turns or max(self.hops) + 2, **kwargs)

    def _sample_task(self, options: Mapping[str, Any]) -> QATask:
        hops, question_type = _episode_overrides(options)
        world_seed = int(self.np_random.integers(2**62))
        rng = random.Random(world_seed)
        hops = hops or rng.choice(self.hops)
        question_type = question_type or rng.choice(self.question_types)
        while True:  # a world may lack what a question needs (e.g. a married director): draw another
            world = generate_world(rng, self.world_size)
            question = make_question(rng, world, hops, question_type)
            if question is not None:
                break
        gold = [world.passage(entity) for entity in question.supporting]
        others = [e for e in world.entities.values() if e not in question.supporting]
        distractors = [world.passage(e) for e in rng.sample(others, min(self.num_distractors, len(others)))]
        passages = gold + distractors
        rng.shuffle(passages)
        return QATask(
            id=f"synthhop-{world_seed}",
            question=question.text,
            answers=(question.answer,),
            supporting_ids=tuple(p.id for p in gold),
            oracle_queries=tuple(e.name for e in question.supporting),
            retriever=BM25Retriever(passages),
        )


def _episode_overrides(options: Mapping[str, Any]) -> tuple[int | None, str | None]:
    """The `hops` and `question_type` that reset options ask for (None: draw one), checked
    before any world is drawn: worlds are drawn until one has the question asked for, so
    an impossible request (5 hops) would never end, and a senseless one (-1) must not
    quietly become some other question."""
    hops = options.get("hops")
    if hops is not None:
        if isinstance(hops, bool) or not isinstance(hops, numbers.Integral) or not 1 <= hops <= MAX_HOPS:
            raise ValueError(f"options['hops'] must be an integer from 1 to {MAX_HOPS}, got {hops!r}")
        hops = int(hops)
    question_type = options.get("question_type")
    if question_type is not None and (not isinstance(question_type, str) or question_type not in QUESTION_TYPES):
        raise ValueError(f"options['question_type'] must be one of {', '.join(QUESTION_TYPES)}, got {question_type!r}")
    return hops, question_type
