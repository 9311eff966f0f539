"""Kernel pooling against a direct numpy evaluation of the K-NRM formula (Xiong et al. 2017, eqs. 3-5)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from irprune.models.kernel_pooling import KernelPooling, ck_kernels, cosine_matrix, knrm_kernels


def test_kernel_constants_match_the_papers() -> None:
    mus, sigmas = knrm_kernels(11)
    assert mus == pytest.approx([1.0, 0.9, 0.7, 0.5, 0.3, 0.1, -0.1, -0.3, -0.5, -0.7, -0.9])
    assert sigmas == pytest.approx([1e-3] + [0.1] * 10)
    mus, sigmas = ck_kernels(10)
    assert mus == pytest.approx([1.0, 0.8, 0.6, 0.4, 0.2, 0.0, -0.2, -0.4, -0.6, -0.8])
    assert sigmas == pytest.approx([0.1] * 10)


def _numpy_phi(sim: np.ndarray, qm: np.ndarray, dm: np.ndarray, mus: list[float], sigmas: list[float],
               eps: float, scale: float) -> np.ndarray:
    b, lq, ld = sim.shape
    out = np.zeros((b, len(mus)))
    for n in range(b):
        for k, (mu, s) in enumerate(zip(mus, sigmas)):
            total = 0.0
            for i in range(lq):
                if not qm[n, i]:
                    continue
                soft_tf = sum(math.exp(-((sim[n, i, j] - mu) ** 2) / (2 * s * s)) for j in range(ld) if dm[n, j])
                total += math.log(max(soft_tf, eps))
            out[n, k] = scale * total
    return out


def test_forward_matches_numpy_formula_with_masks() -> None:
    rng = np.random.default_rng(0)
    sim = rng.uniform(-1, 1, size=(3, 4, 7))
    sim[0, 1, 2] = 1.0                                     # an exact match for the mu=1 kernel
    qm = np.array([[1, 1, 1, 0], [1, 0, 0, 0], [1, 1, 1, 1]], dtype=float)
    dm = np.array([[1] * 7, [1, 1, 1, 0, 0, 0, 0], [1, 1, 0, 0, 0, 0, 0]], dtype=float)
    mus, sigmas = knrm_kernels(11)
    kp = KernelPooling(mus, sigmas, eps=1e-10, log_scale=0.01)
    got = kp(torch.tensor(sim, dtype=torch.float32), torch.tensor(qm, dtype=torch.float32),
             torch.tensor(dm, dtype=torch.float32)).double().numpy()
    want = _numpy_phi(sim, qm, dm, mus, sigmas, 1e-10, 0.01)
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)
    assert got[0, 0] > got[2, 0]                           # the exact match raised the exact-match feature


def test_windowed_soft_tf_matches_direct_window_sums() -> None:
    rng = np.random.default_rng(1)
    sim = rng.uniform(-1, 1, size=(2, 3, 11))
    dm = np.ones((2, 11))
    dm[1, 6:] = 0
    mus, sigmas = ck_kernels(10)
    kp = KernelPooling(mus, sigmas)
    tf, valid = kp.windowed_soft_tf(torch.tensor(sim, dtype=torch.float32), torch.tensor(dm, dtype=torch.float32),
                                    window=4, stride=3)
    # windows start at 0, 3, 6, 9 (the last one padded past the end: 9, 10, pad, pad)
    assert tf.shape == (2, 3, 4, 10) and valid.tolist() == [[1, 1, 1, 1], [1, 1, 0, 0]]
    for n in range(2):
        for i in range(3):
            for w, start in enumerate((0, 3, 6, 9)):
                for k, (mu, s) in enumerate(zip(mus, sigmas)):
                    want = sum(math.exp(-((sim[n, i, j] - mu) ** 2) / (2 * s * s))
                               for j in range(start, min(start + 4, 11)) if dm[n, j])
                    assert float(tf[n, i, w, k]) == pytest.approx(want, rel=1e-4, abs=1e-6)
    full = kp.soft_tf(torch.tensor(sim, dtype=torch.float32), torch.tensor(dm, dtype=torch.float32))
    one, _ = kp.windowed_soft_tf(torch.tensor(sim, dtype=torch.float32), torch.tensor(dm, dtype=torch.float32),
                                 window=20, stride=5)
    torch.testing.assert_close(one.squeeze(-2), full)


def test_buffers_follow_the_module_and_state_dict() -> None:
    kp = KernelPooling(*knrm_kernels(5))
    assert {n for n, _ in kp.named_buffers()} == {"mus", "sigmas"} and not list(kp.parameters())
    assert set(kp.state_dict()) == {"mus", "sigmas"}
    assert kp.to(torch.float64).mus.dtype == torch.float64


def test_cosine_matrix_against_numpy() -> None:
    rng = np.random.default_rng(2)
    q, d = rng.normal(size=(2, 3, 5)), rng.normal(size=(2, 4, 5))
    d[0, 3] = 0.0                                          # a zero (padding) vector
    got = cosine_matrix(torch.tensor(q), torch.tensor(d)).numpy()
    for n in range(2):
        for i in range(3):
            for j in range(4):
                nq, nd = np.linalg.norm(q[n, i]), np.linalg.norm(d[n, j])
                want = 0.0 if nd == 0 else q[n, i] @ d[n, j] / (nq * nd)
                assert got[n, i, j] == pytest.approx(want, abs=1e-6)
