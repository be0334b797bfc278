"""A seeded fictional world: people, places, companies and works, and their passages.

Every name is invented from syllables, so no model can answer from memory: an
agent has to search. Each relation is functional (one director per film, one
birthplace per person), so a chain of relations has exactly one answer, and
each fact is stated in the passage of its subject, so the gold passages of a
question are well defined.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from agent_r1.tools.retriever import Passage

_ONSETS = "b br c d dr f g gr h j k kr l m n p r s st t tr v z th sh".split()
_VOWELS = "a e i o u ae ia ou ei".split()
_CODAS = ["", "", "n", "r", "s", "l", "th", "m", "x", "nd", "rk"]
_CITY_SUFFIXES = "ford mere holm vale burg port wick".split()
_COUNTRY_SUFFIXES = "ia land ora istan".split()
_COMPANY_SUFFIXES = "Industries Works Labs Group Records Foundry Motors".split()
_ADJECTIVES = "Silent Crimson Hollow Golden Broken Distant Frozen Quiet Burning Hidden Pale Restless".split()
_NOUNS = "Harbor Orchard Lantern Meridian Tide Garden Mirror Compass Ember Meadow Signal Cathedral".split()
_OCCUPATIONS = "painter architect physicist chemist sculptor diplomat composer historian".split()


@dataclass
class Entity:
    id: str
    kind: str  # person, city, country, company, film, book
    name: str
    year: int | None = None  # born, founded, released or published
    relations: dict[str, str] = field(default_factory=dict)  # relation -> entity id
    population: int | None = None


@dataclass
class World:
    entities: dict[str, Entity]

    def of_kind(self, kind: str) -> list[Entity]:
        return [e for e in self.entities.values() if e.kind == kind]

    def related(self, entity: Entity, relation: str) -> Entity | None:
        target = entity.relations.get(relation)
        return self.entities[target] if target is not None else None

    def occupation(self, person: Entity) -> str:
        roles = []
        for other in self.entities.values():
            if other.relations.get("directed_by") == person.id:
                roles.append("film director")
            elif other.relations.get("written_by") == person.id:
                roles.append("novelist")
            elif other.relations.get("founded_by") == person.id:
                roles.append("entrepreneur")
        roles = list(dict.fromkeys(roles)) or [_OCCUPATIONS[int(person.id.split("-")[1]) % len(_OCCUPATIONS)]]
        return " and ".join(roles)

    def passage(self, entity: Entity) -> Passage:
        name, rel = entity.name, lambda r: self.related(entity, r)
        if entity.kind == "person":
            occupation = self.occupation(entity)
            article = "an" if occupation[0] in "aeiou" else "a"
            text = f"{name} is {article} {occupation} born in {entity.year} in {rel('born_in').name}."
            if rel("spouse"):
                text += f" {name} is married to {rel('spouse').name}."
        elif entity.kind == "city":
            text = f"{name} is a city in {rel('located_in').name}, with a population of {entity.population:,}."
        elif entity.kind == "country":
            cities = sorted((c for c in self.of_kind("city") if c.relations["located_in"] == entity.id), key=lambda c: -c.population)
            text = f"{name} is a country." + (f" Its capital is {cities[0].name}." if cities else "")
        elif entity.kind == "company":
            text = (
                f"{name} is a company founded in {entity.year} by {rel('founded_by').name}. "
                f"It is headquartered in {rel('headquartered_in').name}."
            )
        elif entity.kind == "film":
            text = f"{name} is a {entity.year} film directed by {rel('directed_by').name}."
        else:
            text = f"{name} is a novel by {rel('written_by').name}, first published in {entity.year}."
        return Passage(id=entity.id, title=name, text=text)


class _Names:
    """Invented names, unique within one world."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.used: set[str] = set()

    def _word(self, syllables: int) -> str:
        parts = [self.rng.choice(_ONSETS) + self.rng.choice(_VOWELS) for _ in range(syllables)]
        return ("".join(parts) + self.rng.choice(_CODAS)).capitalize()

    def unique(self, make) -> str:
        while True:
            name = make()
            if name not in self.used:
                self.used.add(name)
                return name

    def person(self) -> str:
        return self.unique(lambda: f"{self._word(2)} {self._word(self.rng.choice((2, 3)))}")

    def city(self) -> str:
        return self.unique(lambda: self._word(2) + self.rng.choice(_CITY_SUFFIXES))

    def country(self) -> str:
        return self.unique(lambda: self._word(2).rstrip("aeiou") + self.rng.choice(_COUNTRY_SUFFIXES))

    def company(self) -> str:
        return self.unique(lambda: f"{self._word(2)} {self.rng.choice(_COMPANY_SUFFIXES)}")

    def film(self) -> str:
        return self.unique(lambda: f"The {self.rng.choice(_ADJECTIVES)} {self.rng.choice(_NOUNS)} of {self._word(2)}")

    def book(self) -> str:
        return self.unique(lambda: f"{self.rng.choice(_NOUNS)}s of {self._word(2)}")


def generate_world(rng: random.Random, size: int = 40) -> World:
    """A world of about `size` entities, fully determined by the state of `rng`."""
    if size < 12:
        raise ValueError(f"a SynthHop world needs at least 12 entities, got {size}")
    names = _Names(rng)
    entities: dict[str, Entity] = {}

    def add(kind: str, index: int, name: str, **fields) -> Entity:
        entity = Entity(id=f"{kind}-{index}", kind=kind, name=name, **fields)
        entities[entity.id] = entity
        return entity

    countries = [add("country", i, names.country()) for i in range(max(2, size // 12))]
    cities = [
        add("city", i, names.city(), population=rng.randrange(20, 3000) * 1000, relations={"located_in": rng.choice(countries).id})
        for i in range(max(3, size // 6))
    ]
    people = [
        add("person", i, names.person(), year=rng.randrange(1900, 1990), relations={"born_in": rng.choice(cities).id})
        for i in range(max(4, size * 2 // 5))
    ]
    couples = len(people) // 4  # half of the people are married
    married = rng.sample(people, 2 * couples)
    for a, b in zip(married[0::2], married[1::2]):
        a.relations["spouse"], b.relations["spouse"] = b.id, a.id
    remaining = size - len(entities)
    for i in range(max(1, remaining // 4)):
        founder = rng.choice(people)
        add("company", i, names.company(), year=rng.randrange(founder.year + 20, founder.year + 60),
            relations={"founded_by": founder.id, "headquartered_in": rng.choice(cities).id})
    remaining = size - len(entities)
    for i in range(max(2, remaining)):
        creator = rng.choice(people)
        year = rng.randrange(creator.year + 20, creator.year + 70)
        if i % 2 == 0:
            add("film", i // 2, names.film(), year=year, relations={"directed_by": creator.id})
        else:
            add("book", i // 2, names.book(), year=year, relations={"written_by": creator.id})
    return World(entities)
