"""The rollout layer: policies loaded and sampled from (transformers or vLLM), and the engine that plays them
through the envs, episode after episode, into token-level trajectories.

It sits between the envs and training: it imports the envs and nothing of training, evaluation or the command
line, so that evaluation and the trainer share it (tests/test_layering.py holds the direction).
"""
