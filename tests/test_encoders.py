from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from callscout.extract import HashingEncoder, load_encoder


def test_hashing_encoder_is_deterministic_and_normalised():
    encoder = HashingEncoder()
    a = encoder.encode(["Ich höre viel Musik in der Bahn", "Mein Akku ist leer"])
    b = encoder.encode(["Ich höre viel Musik in der Bahn", "Mein Akku ist leer"])
    assert np.allclose(a, b) and np.allclose(np.linalg.norm(a, axis=1), 1.0)
    assert float(a[0] @ encoder.encode(["Musik in der Bahn"])[0]) > float(a[1] @ encoder.encode(["Musik in der Bahn"])[0])


def test_load_encoder_by_name_is_lazy():
    assert load_encoder("hashing").name == "hashing"
    assert load_encoder("use").name == "use"  # no weights loaded until the first encode


@pytest.mark.slow
def test_use_encoder_does_not_import_torch():
    code = (
        "import sys; from callscout.extract import load_encoder; e = load_encoder('use');"
        "v = e.encode(['Wir haben Angst vor einem Einbruch', 'We are afraid of a burglary']);"
        "assert float(v[0] @ v[1]) > 0.5; assert 'torch' not in sys.modules"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


@pytest.mark.slow
def test_minilm_encoder_loads_offline():
    vectors = load_encoder("minilm").encode(["My battery is always running out", "The phone battery dies fast"])
    assert vectors.shape[0] == 2 and float(vectors[0] @ vectors[1]) > 0.5
