"""Questions over a SynthHop world: relation chains of 1 to 4 hops, and comparisons."""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Sequence

from agent_r1.envs.synthhop.world import Entity, World


@dataclass(frozen=True)
class Hop:
    subject_kind: str
    relation: str  # an entity relation, or "year" for the subject's own year
    target_kind: str | None  # None: the hop yields the year, and must be the last
    phrase: str  # the hop as a noun phrase inside a longer question
    question: str  # the hop as the whole question


HOPS = (
    Hop("film", "directed_by", "person", "the director of {x}", "Who directed {x}?"),
    Hop("book", "written_by", "person", "the author of {x}", "Who wrote {x}?"),
    Hop("company", "founded_by", "person", "the founder of {x}", "Who founded {x}?"),
    Hop("company", "headquartered_in", "city", "the city where {x} is headquartered", "In which city is {x} headquartered?"),
    Hop("person", "born_in", "city", "the birthplace of {x}", "Where was {x} born?"),
    Hop("person", "spouse", "person", "the spouse of {x}", "Who is {x} married to?"),
    Hop("city", "located_in", "country", "the country of {x}", "In which country is {x}?"),
    Hop("person", "year", None, "", "In what year was {x} born?"),
    Hop("company", "year", None, "", "In what year was {x} founded?"),
    Hop("film", "year", None, "", "In what year was {x} released?"),
)

COMPARISONS = {
    "person": ("Who was born {order}, {a} or {b}?", "earlier", "later"),
    "company": ("Which company was founded {order}, {a} or {b}?", "earlier", "later"),
    "film": ("Which film came out {order}, {a} or {b}?", "earlier", "later"),
    "book": ("Which novel was published {order}, {a} or {b}?", "earlier", "later"),
}

QUESTION_TYPES = ("chain", "comparison")
# The longest chain the relations allow (film, director, spouse, birthplace, country).
MAX_HOPS = 4


@dataclass(frozen=True)
class Question:
    text: str
    answer: str
    kind: str  # "chain" or "comparison"
    hops: int
    # The entities whose passages hold the facts needed, in the order they are needed.
    supporting: tuple[Entity, ...]


def hop_paths(hops: int) -> list[tuple[Hop, ...]]:
    """Every sequence of `hops` relations whose kinds connect (no spouse of a spouse)."""
    paths: list[tuple[Hop, ...]] = [(hop,) for hop in HOPS]
    for _ in range(hops - 1):
        paths = [
            path + (hop,)
            for path in paths
            for hop in HOPS
            if path[-1].target_kind == hop.subject_kind and not (path[-1].relation == hop.relation == "spouse")
        ]
    return paths


def _follow(world: World, start: Entity, path: Sequence[Hop]) -> tuple[list[Entity], str] | None:
    chain, current = [start], start
    for hop in path:
        if hop.relation == "year":
            return chain, str(current.year)
        current = world.related(current, hop.relation)
        if current is None or current in chain:
            return None
        chain.append(current)
    return chain, current.name


def chain_question(rng: random.Random, world: World, hops: int) -> Question | None:
    if not 1 <= hops <= MAX_HOPS:  # no world has such a chain: a caller drawing worlds until one does would spin
        raise ValueError(f"a chain has 1 to {MAX_HOPS} hops, not {hops}")
    paths = hop_paths(hops)
    for path in rng.sample(paths, len(paths)):
        starts = world.of_kind(path[0].subject_kind)
        for start in rng.sample(starts, len(starts)):
            followed = _follow(world, start, path)
            if followed is None:
                continue
            chain, answer = followed
            phrase = start.name
            for hop in path[:-1]:
                phrase = hop.phrase.format(x=phrase)
            text = path[-1].question.format(x=phrase)
            return Question(text[0].upper() + text[1:], answer, "chain", hops, tuple(chain[:hops]))
    return None


def comparison_question(rng: random.Random, world: World) -> Question | None:
    for kind in rng.sample(sorted(COMPARISONS), len(COMPARISONS)):
        candidates = world.of_kind(kind)
        rng.shuffle(candidates)
        for a in candidates:
            b = next((e for e in candidates if e.year != a.year), None)
            if b is None:
                continue
            template, earlier, later = COMPARISONS[kind]
            order = rng.choice((earlier, later))
            first, second = (a, b) if a.year < b.year else (b, a)
            answer = first if order == earlier else second
            return Question(template.format(order=order, a=a.name, b=b.name), answer.name, "comparison", 2, (a, b))
    return None


def make_question(rng: random.Random, world: World, hops: int, question_type: str) -> Question | None:
    if question_type == "chain":
        return chain_question(rng, world, hops)
    if question_type == "comparison":
        return comparison_question(rng, world)
    raise ValueError(f"unknown question type {question_type!r}; choose from {QUESTION_TYPES}")
