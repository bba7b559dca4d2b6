"""SELMA (skill-specific expert learning and merging) for gauntlet's round loop.

``skills``: the skills and their seed prompts; ``prompts``: prompt writers (local LM, API, the
world grammar) and the ROUGE-L diversity filter; ``lora``: LoRA experts and exact merging;
``trainer``: the ``selma`` trainer (experts, merge and mixed-data baseline rounds).
"""
