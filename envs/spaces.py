"""A text space that holds any Unicode string (Gymnasium's `Text` holds only its charset)."""

from __future__ import annotations

import string
from typing import Any

from gymnasium.spaces import Text

# Characters that `sample()` draws from: enough markup to hit the parsers' edge
# cases (tags, JSON) and some non-ASCII text; `contains()` accepts any character.
_SAMPLE_CHARSET = string.ascii_letters + string.digits + " <>/{}[]\":,_\n\té中ö\u200b"


class UnicodeText(Text):
    def __init__(self, max_length: int = 1 << 20, *, min_length: int = 0, sample_max_length: int = 256, seed: Any = None):
        super().__init__(max_length, min_length=min_length, charset=_SAMPLE_CHARSET, seed=seed)
        self.sample_max_length = min(sample_max_length, max_length)

    def contains(self, x: Any) -> bool:
        return isinstance(x, str) and self.min_length <= len(x) <= self.max_length

    def sample(self, mask: Any = None, probability: Any = None) -> str:
        if mask is not None or probability is not None:
            return super().sample(mask=mask, probability=probability)
        # Text.sample would draw lengths up to max_length (a megabyte of noise per call).
        length = int(self.np_random.integers(self.min_length, self.sample_max_length + 1))
        return "".join(self.np_random.choice(self.character_list, size=length))

    def __repr__(self) -> str:
        return f"UnicodeText({self.min_length}, {self.max_length})"
