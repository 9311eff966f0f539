"""RBF kernel pooling, written once for K-NRM-style models (Conv-KNRM, Conformer-Kernel).

Xiong et al. 2017, "End-to-End Neural Ad-hoc Ranking with Kernel Pooling" (SIGIR), eqs. 3-5: for a
translation (similarity) matrix ``M`` of query term ``i`` against document term ``j``,

    K_k(M_i) = sum_j exp(-(M_ij - mu_k)^2 / (2 sigma_k^2))        (soft term frequency of kernel k)
    phi(M)   = sum_i log K(M_i)                                    (log-sum over query terms)

Padding document terms contribute nothing to ``K_k`` and padding query terms nothing to ``phi``.  The log is
taken of ``max(K, eps)`` and ``phi`` is multiplied by ``log_scale``: the K-NRM / Conv-KNRM reference code
(AdeDZY/K-NRM) uses eps = 1e-10 and a scale of 0.01, which keeps the tanh output layer out of saturation.
``mus``/``sigmas`` are registered buffers, so the module follows ``.to(device)`` and is saved with the model.
Kernels are evaluated in fp32 even under bf16 autocast (an exact-match sigma of 1e-3 needs the precision).
"""

from __future__ import annotations

from typing import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn


def knrm_kernels(n_kernels: int = 11, sigma: float = 0.1, exact_sigma: float = 1e-3) -> tuple[list[float], list[float]]:
    """K-NRM / Conv-KNRM kernels: an exact-match kernel (mu=1, sigma=``exact_sigma``) plus ``n_kernels-1``
    soft kernels with mus evenly spaced in (-1, 1) at bin centres (11 kernels: 0.9, 0.7, ..., -0.9) and
    ``sigma`` = 0.1 (Xiong et al. 2017, sec. 4; Dai et al. 2018, sec. 4.3)."""
    if n_kernels < 2:
        raise ValueError("n_kernels must be >= 2 (one exact-match kernel plus soft kernels)")
    step = 2.0 / (n_kernels - 1)
    mus = [1.0] + [round(1.0 - step / 2 - i * step, 10) for i in range(n_kernels - 1)]
    return mus, [exact_sigma] + [sigma] * (n_kernels - 1)


def ck_kernels(n_kernels: int = 10, sigma: float = 0.1) -> tuple[list[float], list[float]]:
    """Conformer-Kernel kernels: mus ``1 - 2i/K`` for ``i = 0..K-1`` (1.0, 0.8, ..., -0.8), one shared
    sigma (Mitra et al. 2021, TREC-Deep-Learning-Quick-Start ``RBFKernel``: K=10, sigma=0.1)."""
    return [round(1.0 - 2.0 * i / n_kernels, 10) for i in range(n_kernels)], [sigma] * n_kernels


class KernelPooling(nn.Module):
    """Gaussian kernels over a similarity matrix; soft-TF per query term, windowed, or log-summed (K-NRM)."""

    def __init__(self, mus: Sequence[float], sigmas: Sequence[float], eps: float = 1e-10,
                 log_scale: float = 1.0) -> None:
        super().__init__()
        if len(mus) != len(sigmas) or not mus:
            raise ValueError("mus and sigmas must be non-empty and of equal length")
        self.register_buffer("mus", torch.tensor(mus, dtype=torch.float32))        # [K]
        self.register_buffer("sigmas", torch.tensor(sigmas, dtype=torch.float32))  # [K]
        self.eps = eps
        self.log_scale = log_scale

    @property
    def n_kernels(self) -> int:
        return int(self.mus.numel())

    def kernels(self, sim: Tensor, doc_mask: Tensor) -> Tensor:
        """``sim`` [..., Lq, Ld], ``doc_mask`` [..., Ld] -> kernel values [..., Lq, Ld, K], 0 at padding."""
        sim = sim.float()                     # fp32 even under bf16 autocast: sigma = 1e-3 needs the precision
        k = torch.exp(-((sim.unsqueeze(-1) - self.mus) ** 2) / (2 * self.sigmas ** 2))  # [..., Lq, Ld, K]
        return k * doc_mask.unsqueeze(-2).unsqueeze(-1).to(k.dtype)

    def soft_tf(self, sim: Tensor, doc_mask: Tensor) -> Tensor:
        """``K_k(M_i)``: [..., Lq, Ld] -> [..., Lq, K]."""
        return self.kernels(sim, doc_mask).sum(dim=-2)

    def windowed_soft_tf(self, sim: Tensor, doc_mask: Tensor, window: int, stride: int) -> tuple[Tensor, Tensor]:
        """Soft-TF over document windows (Mitra et al. 2021's pooled kernels for long documents).

        Returns ``tf`` [..., Lq, W, K] and ``valid`` [..., W] (1 where a window holds a document term).  The
        document is right-padded so that its tail falls in a window; a document no longer than ``window`` has
        exactly one window, equal to :meth:`soft_tf`.
        """
        k = self.kernels(sim, doc_mask)                                          # [..., Lq, Ld, K]
        ld = k.shape[-2]
        n_win = 1 if ld <= window else 1 + -(-(ld - window) // stride)
        pad = max(0, (n_win - 1) * stride + window - ld)
        k = F.pad(k, (0, 0, 0, pad))                                             # [..., Lq, Ld+pad, K]
        m = F.pad(doc_mask, (0, pad))                                            # [..., Ld+pad]
        tf = k.unfold(-2, window, stride).sum(dim=-1)                            # [..., Lq, W, K]
        valid = (m.unfold(-1, window, stride).sum(dim=-1) > 0).to(tf.dtype)      # [..., W]
        return tf, valid

    def log_tf(self, tf: Tensor) -> Tensor:
        """``log max(K, eps)``, elementwise."""
        return torch.log(torch.clamp(tf, min=self.eps))

    def forward(self, sim: Tensor, query_mask: Tensor, doc_mask: Tensor) -> Tensor:
        """K-NRM features ``log_scale * phi(M)``: ``sim`` [B, Lq, Ld], masks [B, Lq] / [B, Ld] -> [B, K]."""
        log_tf = self.log_tf(self.soft_tf(sim, doc_mask))                        # [B, Lq, K]
        return self.log_scale * (log_tf * query_mask.unsqueeze(-1).to(log_tf.dtype)).sum(dim=-2)  # [B, K]


def dot_matrix_fp32(q: Tensor, d: Tensor) -> Tensor:
    """``q @ d^T`` per batch in fp32 with autocast off: [B, Lq, H] x [B, Ld, H] -> [B, Lq, Ld]."""
    with torch.autocast(device_type=q.device.type, enabled=False):
        return torch.bmm(q.float(), d.float().transpose(1, 2))


def cosine_matrix(q: Tensor, d: Tensor, eps: float = 1e-8) -> Tensor:
    """Cosine similarity of every query vector with every document vector: [B, Lq, H] x [B, Ld, H] -> [B, Lq, Ld]
    (fp32).  Zero vectors (padding) get similarity 0."""
    return dot_matrix_fp32(unit_vectors(q, eps), unit_vectors(d, eps))


def unit_vectors(x: Tensor, eps: float = 1e-8) -> Tensor:
    """``x / sqrt(|x|^2 + eps^2)`` in fp32: the unit vectors of ``x`` (to within eps) and 0 for zero vectors.

    Unlike ``F.normalize`` (``x / max(|x|, eps)``) it is smooth at zero, so second derivatives (GraSP's
    Hessian-gradient product) stay finite at padding positions, which are exactly zero."""
    x = x.float()
    return x * torch.rsqrt((x * x).sum(dim=-1, keepdim=True) + eps * eps)
