"""The randomness of a DP mechanism: secret by default, seeded only to reproduce a run.

A DP guarantee holds only if the mechanism's coins are unknown to the adversary. DP-SGD has
two kinds of coin: which rows join each step (the Poisson subsampling that the accountant's
amplification at ``q = B/n`` relies on) and the Gaussian noise. If both come from a seed
printed in a parameter file, anyone with the book can regenerate every batch and every noise
draw and subtract them: the released model is then no more private than the non-private one.

So the library default (``noise_seed=None``) seeds a :class:`torch.Generator` with 63 bits
from the operating system's entropy source (:mod:`secrets`), fresh on every call. An explicit
integer ``noise_seed`` instead makes the run repeatable bit for bit.
:data:`SEEDED_NOISE_NOTE` is the sentence the chapters print where they pass one:
**seeded noise is a reproduction device that voids the guarantee.**

Noise is drawn by Opacus' generator in ``secure_mode`` (the sum of four Gaussian draws,
Holohan et al. 2021 / Haney et al. 2022, robust to the floating-point attacks on
``torch.normal``). Opacus' own CSPRNG route (``PrivacyEngine(secure_mode=True)``) needs
``torchcsprng``, which has no wheel for this torch (2.x) and is not installed, so the OS-seeded
generator stands in: its seed is secret, though the Mersenne-Twister stream it drives is not
a cryptographic generator.

Poisson batches come from Opacus' :class:`~opacus.utils.uniform_sampler.UniformWithReplacementSampler`
(each row joins each step independently with probability ``q``): the sampling the RDP
analysis of the sampled Gaussian mechanism assumes (Mironov et al. 2019; shuffled batches
can have a much larger ε, Chua et al. 2024).

References: Abadi et al. 2016, Alg. 1; Mironov, Talwar & Zhang 2019 (sampled Gaussian
mechanism); Chua et al. 2024 ("How private are DP-SGD implementations?"); paper 000 eq. 2,
paper 001 §4.3, paper 002 eq. 5. Used by chapters 1-3.

Examples
--------
>>> g1, g2 = mechanism_generator(None, seed=0), mechanism_generator(None, seed=0)
>>> bool(torch.equal(torch.rand(3, generator=g1), torch.rand(3, generator=g2)))
False
>>> g1, g2 = mechanism_generator(7, seed=0), mechanism_generator(7, seed=0)
>>> bool(torch.equal(torch.rand(3, generator=g1), torch.rand(3, generator=g2)))
True
>>> [len(b) for b in poisson_batches(10, sample_rate=0.5, steps=3, generator=g1)] != []
True
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from typing import Any

import numpy as np
import torch

__all__ = ["SEEDED_NOISE_NOTE", "gaussian_noise", "mechanism_generator", "poisson_batches"]

SEEDED_NOISE_NOTE = (
    "The DP noise and batch sampling here are seeded (noise_seed) so that the book's numbers "
    "can be reproduced; seeded noise is a reproduction device that voids the guarantee, "
    "since anyone with the seed can regenerate and subtract every draw. Leave noise_seed "
    "unset (the library default, noise from OS entropy) for a real release.")


def _check_seed(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 0:
        raise ValueError(f"{name} must be an integer >= 0, got {value!r}")
    return int(value)


def mechanism_generator(noise_seed: int | None, *, seed: int) -> torch.Generator:
    """The generator of one training call's batch sampling and DP noise.

    Parameters
    ----------
    noise_seed
        ``None`` (default everywhere in fedlib): a fresh secret seed from :mod:`secrets`, so
        no two calls share draws and nobody can regenerate them. An integer: a generator
        derived from ``(noise_seed, seed)``, identical on every re-run — a reproduction device
        that voids the DP guarantee (:data:`SEEDED_NOISE_NOTE`).
    seed
        The call's own seed (per party and round); mixed into a given ``noise_seed`` so that
        rounds and parties draw different coins. Ignored when ``noise_seed`` is ``None``.

    Examples
    --------
    >>> a = torch.rand(2, generator=mechanism_generator(1, seed=1))
    >>> b = torch.rand(2, generator=mechanism_generator(1, seed=2))
    >>> bool(torch.equal(a, b))
    False
    """
    seed = _check_seed("seed", seed)
    if noise_seed is None:
        return torch.Generator().manual_seed(secrets.randbits(63))
    noise_seed = _check_seed("noise_seed", noise_seed)
    state = np.random.SeedSequence([noise_seed, seed]).generate_state(1, dtype=np.uint64)[0]
    return torch.Generator().manual_seed(int(state) >> 1)


def gaussian_noise(std: float, like: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """``N(0, std²)`` noise shaped like ``like``, drawn as Opacus' ``DPOptimizer`` draws it.

    Opacus' noise function in ``secure_mode`` (four draws summed and halved, the
    floating-point-safe construction); used by the hand-written clip-and-noise step of
    :mod:`fedlib.survival.federated`, so both DP-SGD paths share one noise source.

    >>> n = gaussian_noise(2.0, torch.zeros(20_000), mechanism_generator(0, seed=0))
    >>> round(float(n.std()), 1)
    2.0
    """
    from opacus.optimizers.optimizer import _generate_noise

    return _generate_noise(float(std), like, generator=generator, secure_mode=True)


def poisson_batches(n: int, *, sample_rate: float, steps: int,
                    generator: torch.Generator) -> Iterator[torch.Tensor]:
    """Row indices of ``steps`` Poisson-sampled batches (each row in with prob. ``sample_rate``).

    Opacus' :class:`~opacus.utils.uniform_sampler.UniformWithReplacementSampler`; a batch may
    be empty (probability ``(1 − q)^n``), and the caller must still release (and account) a
    pure-noise step for it.

    >>> sizes = [len(b) for b in poisson_batches(1000, sample_rate=0.1, steps=50,
    ...                                          generator=mechanism_generator(0, seed=0))]
    >>> 80 < sum(sizes) / 50 < 120
    True
    """
    from opacus.utils.uniform_sampler import UniformWithReplacementSampler

    if not 0 < sample_rate <= 1:
        raise ValueError(f"sample_rate must be in (0, 1], got {sample_rate!r}")
    sampler = UniformWithReplacementSampler(num_samples=int(n), sample_rate=float(sample_rate),
                                            generator=generator, steps=int(steps))
    for idx in sampler:
        yield torch.as_tensor(idx, dtype=torch.long)
