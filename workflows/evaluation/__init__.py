"""Evaluation suites of a trained model: clinical similarity, empathy / MI adherence, safety and
refusal over-triggering, scored by a judge (heuristic by default, or an LLM behind an
OpenAI-compatible endpoint). See docs/evaluation.md."""
