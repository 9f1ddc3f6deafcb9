"""The run configuration: its schema (every default, documented), loading and validation, and the resolved dump."""

from evo.config.dump import dump_config
from evo.config.loader import load_config, load_file
from evo.config.schema import (
    NOISE_MARGIN,
    BudgetConfig,
    CalibrationConfig,
    ConfirmConfig,
    EarlyStopConfig,
    ExecutorConfig,
    HoldoutConfig,
    LLMSection,
    MemoryConfig,
    ModelConfig,
    NoveltyConfig,
    PopulationConfig,
    RunConfig,
    SlotsConfig,
    SprtConfig,
    StopConfig,
    knob,
)

__all__ = [
    "NOISE_MARGIN",
    "BudgetConfig",
    "CalibrationConfig",
    "ConfirmConfig",
    "EarlyStopConfig",
    "ExecutorConfig",
    "HoldoutConfig",
    "LLMSection",
    "MemoryConfig",
    "ModelConfig",
    "NoveltyConfig",
    "PopulationConfig",
    "RunConfig",
    "SlotsConfig",
    "SprtConfig",
    "StopConfig",
    "dump_config",
    "knob",
    "load_config",
    "load_file",
]
