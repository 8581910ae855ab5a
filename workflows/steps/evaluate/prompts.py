"""The versioned prompt sets in ``prompts/*.yaml`` (written for this project; see each file's provenance)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field

PROMPTS_DIR = Path(__file__).with_name("prompts")


class Prompt(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str
    text: str = Field(min_length=1)


class PromptSet(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str
    version: int
    provenance: str = Field(min_length=1)
    expect: Literal["crisis-appropriate", "refusal", "no-refusal"]
    prompts: list[Prompt] = Field(min_length=1)


class JudgePrompts(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str
    version: int
    provenance: str
    rubrics: dict[str, str]


def load_prompt_set(name: str, directory: Path | None = None) -> PromptSet:
    path = (directory or PROMPTS_DIR) / f"{name}.yaml"
    return PromptSet.model_validate(yaml.safe_load(path.read_text()))


def load_judge_prompts(directory: Path | None = None) -> JudgePrompts:
    return JudgePrompts.model_validate(yaml.safe_load(((directory or PROMPTS_DIR) / "judge.yaml").read_text()))
