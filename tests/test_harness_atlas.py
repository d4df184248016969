"""The divergence atlas: docs/divergences.md is current, and explain() picks the entries a spec concerns."""
from __future__ import annotations

import dataclasses

import pytest

from shared import atlas, networks


def test_committed_atlas_matches_a_fresh_generation():
    """Regenerate (float64, fixed seeds, one BLAS thread, 2 significant digits) and compare byte for byte."""
    fresh = atlas.render()
    committed = atlas.DOC.read_text(encoding="utf-8")
    assert committed == fresh, "docs/divergences.md is out of date: run `make atlas`"


def test_every_topic_is_covered_for_both_frameworks():
    topics = {(e.framework, e.topic) for e in atlas.ENTRIES}
    for framework in ("torch", "tf"):
        names = " ".join(topic for f, topic in topics if f == framework)
        for word in ("SGD momentum", "Adagrad", "RMSprop", "Adam", "L1", "Cross-entropy",
                     "Binary cross-entropy", "weight_decay", "clip"):
            assert word in names, (framework, word)
    assert any("Python-float" in topic for f, topic in topics if f == "tf")


def test_known_formula_differences_measure_far_above_the_floor_and_equal_formulas_do_not():
    """The measurements agree with what the formulas say, not just with themselves."""
    by_key = {(e.framework, e.topic): atlas.measure(e) for e in atlas.ENTRIES}
    differs = [("torch", "SGD momentum with decay"), ("tf", "Adagrad initial accumulator and "
               "epsilon"), ("tf", "RMSprop epsilon"), ("tf", "Adam epsilon hat"),
               ("torch", "Adam default epsilon"), ("torch", "L1 at w == 0"),
               ("tf", "weight_decay coupling"), ("torch", "clip_grad_norm_ epsilon"),
               ("torch", "Binary cross-entropy clip"), ("tf", "Binary cross-entropy clip")]
    same = [("tf", "SGD momentum with decay"), ("torch", "Adagrad initial accumulator and "
            "epsilon"), ("torch", "RMSprop epsilon"), ("tf", "global_clipnorm")]
    for key in differs:
        m = by_key[key]
        assert m.drift > 1e3 * max(m.floor, 1e-15), (key, m)
        assert m.verdict.startswith("formula difference"), (key, m)
    for key in same:
        m = by_key[key]
        assert m.drift <= 10 * m.floor, (key, m)
        assert not m.verdict.startswith(("formula", "unclear")), (key, m)
    # BCE: saturated outputs only; at xor's own weights the same run is rounding
    for framework in ("torch", "tf"):
        assert "(unsaturated): within the noise floor" in by_key[framework, "Binary cross-entropy "
                                                                 "clip"].note
    # a hyperparameter rounded to float32 is another value, not another formula
    rounded = by_key["tf", "Python-float hyperparameters in float64"]
    assert rounded.drift > 1e3 * rounded.floor and rounded.verdict.startswith("another value")
    # stated by construction, not run: no measured-looking 0 and "same arithmetic" (a review)
    coupled = by_key["torch", "weight_decay coupling"]
    assert coupled.text().startswith("not run") and "not run" in coupled.verdict
    assert all(0 < m.floor < 1e-8 for m in by_key.values())


def test_explain_lists_the_entries_of_a_spec():
    spiral = networks.load("spiral")  # Adam, cross-entropy, no regularizers, no clipping
    tf_lines = atlas.explain("tf", spiral)
    assert any(line.startswith("Adam epsilon hat") for line in tf_lines)
    assert any(line.startswith("Cross-entropy") for line in tf_lines)
    assert not any(line.startswith(("RMSprop", "L1", "SGD")) for line in tf_lines)
    adam = next(line for line in tf_lines if line.startswith("Adam"))
    assert "drift after 100 steps on spiral Adam" in adam and "formula difference" in adam
    torch_lines = atlas.explain("torch", spiral)
    # impl_torch's native runs pass the spec's eps, so torch's default eps does not concern
    # them: the report used to name it (drift 7.2) beside a native drift of 1e-8
    assert not any(line.startswith("Adam default epsilon") for line in torch_lines)
    assert any(line.startswith("Cross-entropy") for line in torch_lines)
    assert atlas.explain("numpy", spiral) == [] and atlas.explain("pure", spiral) == []
    # xor: SGD with momentum but no decay, MSE; torch's momentum form parts from nnfs's only
    # as the rate decays (the report named it beside a native drift of 0), so nothing here
    xor = networks.load("xor")
    assert atlas.explain("torch", xor) == [] and atlas.explain("tf", xor) == []
    decaying = xor.replace(optimizer={"decay": 1e-3}, loss="binary_crossentropy")
    assert [line.split(":")[0] for line in atlas.explain("torch", decaying)] == \
        ["SGD momentum with decay", "Binary cross-entropy clip"]
    # what impl_tf's and impl_torch's native modes never do: weight_decay (they put L2 in the
    # loss) and Python floats in a float64 model (np.float64 values): named in the atlas for
    # users, not in the reports of those runs
    l2 = spiral.replace(layers=(dataclasses.replace(spiral.layers[0], weight_l2=5e-4),
                                *spiral.layers[1:]))
    for impl in ("torch", "tf"):
        topics = [line.split(":")[0] for line in atlas.explain(impl, l2)]
        assert not any(t.startswith(("weight_decay", "Python-float")) for t in topics), topics
    with pytest.raises(ValueError, match="implementation"):
        atlas.explain("jax", spiral)
