"""SynthHop: a procedural multi-hop world that needs no download."""

from agent_r1.envs.synthhop.env import SynthHopEnv

__all__ = ["SynthHopEnv"]
