"""Edgen: the EvolveDirector trainer (``gauntlet train edgen``); see :mod:`trainers.edgen.trainer`."""
