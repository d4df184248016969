"""The harness catches real backprop bugs: each mutant of tests/mutants.py, injected into impl_numpy
one at a time, must be flagged by parity, trajectories or the robustness cases against torch
and Keras.

The other side's answers are computed once per framework (it is never mutated); impl_numpy
is rerun under each mutant. The unmutated reference must pass every probe, or a flag
would prove nothing.
"""
from __future__ import annotations

import pytest

import mutants
from conftest import require
from mutants import MUTANTS, applied

OPPONENTS = ("torch", "tf")


@pytest.fixture(scope="module")
def verdicts():
    """opponent -> {"control": failures, mutant name: failures}, computed on first use."""
    cache = {}

    def get(opponent):
        if opponent not in cache:
            require(opponent)
            answers = {probe.name: mutants.answers(opponent, probe) for probe in mutants.probes()}
            results = {"control": mutants.harness(answers, opponent)}
            for mutant in MUTANTS:
                with applied(mutant):
                    results[mutant.name] = mutants.harness(answers, opponent)
            cache[opponent] = results
        return cache[opponent]

    return get


def test_mutants_are_distinct_and_include_the_classic_twelve():
    names = [m.name for m in MUTANTS]
    assert len(names) == len(set(names))
    assert len(mutants.CLASSIC) == 12 and set(mutants.CLASSIC) <= set(names)


@pytest.mark.parametrize("mutant", MUTANTS, ids=lambda m: m.name)
def test_mutant_applies_and_is_undone(mutant):
    """Every edit matches the current impl_numpy exactly once; the patch is removed afterwards."""
    before = [mutants.inspect.getattr_static(owner, attr) for owner, attr, _ in mutant.patches]
    with applied(mutant):
        during = [mutants.inspect.getattr_static(owner, attr) for owner, attr, _ in mutant.patches]
    after = [mutants.inspect.getattr_static(owner, attr) for owner, attr, _ in mutant.patches]
    assert all(a is not b for a, b in zip(before, during))
    assert all(a is b for a, b in zip(before, after))


@pytest.mark.parametrize("opponent", OPPONENTS)
def test_unmutated_reference_passes_every_probe(verdicts, opponent):
    assert verdicts(opponent)["control"] == []


@pytest.mark.parametrize("mutant", MUTANTS, ids=lambda m: m.name)
@pytest.mark.parametrize("opponent", OPPONENTS)
def test_mutant_is_flagged(verdicts, opponent, mutant):
    failures = verdicts(opponent)[mutant.name]
    assert failures, (f"mutant {mutant.name} ({mutant.description}) escaped the harness "
                      f"vs {opponent}")


def test_mutation_score(verdicts, capsys):
    """Print the score per framework and which probe caught each mutant first."""
    scores, lines = [], []
    for opponent in OPPONENTS:
        try:
            results = verdicts(opponent)
        except pytest.skip.Exception:
            scores.append(f"- vs {opponent} (not available)")
            continue
        caught = [m.name for m in MUTANTS if results[m.name]]
        classic = [name for name in mutants.CLASSIC if results[name]]
        scores.append(f"{len(caught)}/{len(MUTANTS)} vs {opponent} "
                      f"(classic {len(classic)}/{len(mutants.CLASSIC)})")
        lines += [f"  {opponent} {m.name}: "
                  f"{results[m.name][0].split(':')[0] if results[m.name] else 'ESCAPED'}"
                  for m in MUTANTS]
    with capsys.disabled():
        print("\nmutation score " + ", ".join(scores))
        print("\n".join(lines))
    assert any(not s.startswith("-") for s in scores), "no framework to compare against"
    assert all(s.split("/")[0] == s.split("/")[1].split()[0] for s in scores if s[0] != "-")
