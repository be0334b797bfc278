"""The real multi-hop QA datasets: loaders, downloads, corpora and their environment."""

from agent_r1.envs.datasets.env import SETTINGS, MultiHopQAEnv
from agent_r1.envs.datasets.formats import load_records
from agent_r1.envs.datasets.records import DatasetFormatError, QARecord

__all__ = ["SETTINGS", "DatasetFormatError", "MultiHopQAEnv", "QARecord", "load_records"]
