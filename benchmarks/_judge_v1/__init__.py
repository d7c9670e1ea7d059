"""The deploy-health judge as it was before the sequential verdicts (commit 027898c), frozen for comparison.

``judge_accuracy.py`` and ``judge_replay.py`` run it beside today's judge ("old judge",
"today's procedure" in docs/performance.md). Nothing in ``src/`` imports it. The four
modules are the files of ``src/shiplane/health`` at that commit, with their imports
pointed here; nothing else was changed.
"""
