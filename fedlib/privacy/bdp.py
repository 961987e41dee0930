r"""Bayesian differential privacy accountant (Triastcyn & Faltings 2020) as FSL-BDP uses it.

Bayesian DP (FSL-BDP Definition 3.2, eq. 8) bounds the privacy loss for neighbouring datasets
that differ in one record *drawn from the data distribution* ``mu``, with probability
``1 - delta_mu`` over the mechanism and the data. The accountant of FSL-BDP Algorithm 2 (lines
14-37) works per DP-SGD step ``e``:

1. **Monte-Carlo neighbours** (lines 15-20). For ``m = 1..M`` replace one element of the batch
   by a fresh draw ``x'^(m) ~ mu`` and record the squared distance between the two clipped
   gradient sums, ``Delta_e^(m) = ||g_e - g_e^(m)||^2``. Only the swapped example changes,
   so ``Delta = ||clip(g_i) - clip(g'_m)||^2`` needs no extra backward pass
   (:func:`neighbour_distances_from_per_example`).
2. **Left and right costs** at each Renyi order ``lambda`` (lines 25-26), for Poisson
   subsampling at rate ``q`` and Gaussian noise of standard deviation ``sigma * C`` on the
   clipped gradient sum:

   .. math::

      c_L^{(m)}(\lambda) &= \log \mathbb{E}_{K\sim\mathrm{Bin}(\lambda+1,q)}
          \exp\!\Big(\tfrac{K^2-K}{2\sigma^2C^2}\Delta^{(m)}\Big), \\
      c_R^{(m)}(\lambda) &= \log \mathbb{E}_{K\sim\mathrm{Bin}(\lambda,q)}
          \exp\!\Big(\tfrac{K^2+K}{2\sigma^2C^2}\Delta^{(m)}\Big), \qquad
      \hat c^{(m)}(\lambda) = \max\{c_L^{(m)}, c_R^{(m)}\}  \quad\text{(line 27)}.

3. **Upper confidence bound** (line 29). The quantity the Bayesian accountant needs is
   ``c_e(lambda) = log E_{x'~mu}[exp(c^(m)(lambda))]`` (a log-moment over the data
   distribution), so, like the reference implementation of Triastcyn & Faltings, we bound the
   *mean of* ``exp(c^(m))`` from above with Student's t at level ``1 - gamma`` (which is
   also the posterior quantile under Jeffreys' prior, the "Bayesian posterior quantile" of
   the paper's footnote) and take the log:
   ``c_e = log( mean_m e^{c^(m)} + t_{1-gamma, M-1} sd_m(e^{c^(m)}) / sqrt(M) )``, computed
   in log space. By Jensen this is never below the mean of the ``c^(m)``.
4. **Composition** (line 30): ``C_tot(lambda) = sum_e c_e(lambda)`` over all local steps and
   all federated rounds (one accountant per client, kept across rounds: this is the Renyi
   composition of sec. 3.5, tighter than Algorithm 1's line 11 which adds the per-round
   epsilons).
5. **Guarantee** (eq. 9, lines 34-37): ``eps_mu = min_lambda (C_tot(lambda) - log beta) /
   lambda`` and ``delta_mu = beta + gamma_total``.

What we do where the paper is ambiguous or loose (each visible in the API):

* **Scale.** Algorithm 2 averages the clipped gradients (line 11) and adds noise
  ``N(0, sigma^2 C^2)`` to the *average* (line 12), but its costs divide ``Delta`` by
  ``2 sigma^2`` with no ``C^2`` (the paper uses ``C = 1``). We use the DP-SGD convention of
  eq. 5: noise ``sigma * C`` on the *sum*, ``Delta`` between *sums*, exponent
  ``Delta / (2 sigma^2 C^2)``. The formula only needs ``Delta`` and the noise standard
  deviation ``sigma * C`` to refer to the same quantity.
* **Right cost.** As printed, ``c_R`` is first order in ``q`` (its ``K = 1`` term is
  ``q (e^{Delta / sigma^2 C^2} - 1)``), while ``c_L`` is exactly the integer-order Renyi bound
  of the sampled Gaussian mechanism (Mironov, Talwar & Zhang 2019), second order in ``q``;
  Mironov et al. show the other direction never exceeds it for the Gaussian, and Triastcyn's
  reference code uses the ``c_L`` form in both directions. ``cost="paper"`` (default) takes
  ``max(c_L, c_R)`` as Algorithm 2 prints; ``cost="left"`` uses ``c_L`` only. The tests check
  that ``cost="left"`` with ``Delta = C^2`` reproduces dp-accounting's RDP of the Poisson
  subsampled Gaussian exactly, and that for ``q = 1`` both reduce to the Gaussian RDP
  ``lambda (lambda + 1) Delta / (2 sigma^2 C^2)``.
* **gamma over many steps.** Each step's bound fails with probability ``gamma``; over ``E``
  estimated steps the union is ``gamma_total = 1 - (1 - gamma)^E`` (the reference code does
  the same). :meth:`BayesianAccountant.epsilon` reports ``delta_mu = beta + gamma_total``;
  for one step this is the paper's ``beta + gamma``.
* **Hoelder correction.** The per-step expectations over the same data distribution are not
  independent across steps; Triastcyn's reference code applies Hoelder's inequality
  (``E prod X_t <= prod (E X_t^H)^{1/H}`` for ``H`` steps), i.e. per step
  ``c_e = log UCB(mean e^{H c^(m)}) / H``. ``holder_steps=H`` turns this on; the default
  ``None`` is Algorithm 2 as printed.
* **Analytical fallback** (sec. 4.3: clients with ``n_k < 100``). Too few rows to estimate
  ``Delta`` from ``mu``: the step is charged the classical worst-case cost, the Renyi
  divergence of the Poisson-subsampled Gaussian with sensitivity ``C`` (add/remove
  adjacency, the convention of Opacus and of the classical-DP baseline), computed by
  dp-accounting, times ``lambda``. These steps carry no estimator failure probability.

References: Amed, Sen & Banerjee (2026), FSL-BDP, sec. 3.5, eq. 9, Algorithm 2, sec. 4.3;
Triastcyn & Faltings (2020), "Bayesian Differential Privacy for Machine Learning", ICML
(sec. 4, privacy accounting); Mironov, Talwar & Zhang (2019), "Renyi Differential Privacy of
the Sampled Gaussian Mechanism". Introduced in chapter 3 (``chapters/03_fsl_bdp_survival.py``).

Examples
--------
>>> acc = BayesianAccountant(sample_rate=0.01, noise_multiplier=1.0, clip_norm=1.0,
...                          beta=1e-5, gamma=1e-6, n_rows=5000)
>>> rng = np.random.default_rng(0)
>>> for _ in range(100):
...     _ = acc.step(rng.uniform(0.1, 0.5, size=10))
>>> eps, delta = acc.epsilon()
>>> round(eps, 3), round(delta, 8)
(1.784, 0.00011)
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Literal

import numpy as np
from scipy import optimize, stats

__all__ = [
    "DEFAULT_BDP_ORDERS",
    "MIN_ROWS_BAYESIAN",
    "BayesianAccountant",
    "BayesianDPError",
    "analytical_step_cost",
    "bdp_cost_terms",
    "calibrate_bdp_noise",
    "neighbour_distances_from_per_example",
]

#: Renyi orders lambda (integers, because the costs are binomial expectations over lambda).
DEFAULT_BDP_ORDERS: tuple[int, ...] = (*range(1, 33), 40, 48, 64, 96, 128, 192, 256)
#: Below this many rows a client falls back to analytical (classical) DP (FSL-BDP sec. 4.3).
MIN_ROWS_BAYESIAN = 100

CostRule = Literal["paper", "left"]


class BayesianDPError(ValueError):
    """A Bayesian-DP argument is out of range or inconsistent."""


def _check_unit(name: str, value: float, *, closed_right: bool = False) -> float:
    ok = 0 < value <= 1 if closed_right else 0 < value < 1
    if not (np.isfinite(value) and ok):
        rng = "(0, 1]" if closed_right else "(0, 1)"
        raise BayesianDPError(f"{name}={value!r}: must be in {rng}")
    return float(value)


def _check_positive(name: str, value: float) -> float:
    if not (np.isfinite(value) and value > 0):
        raise BayesianDPError(f"{name}={value!r}: must be a finite number > 0")
    return float(value)


def _check_orders(orders) -> np.ndarray:
    o = np.asarray(DEFAULT_BDP_ORDERS if orders is None else orders)
    if o.ndim != 1 or o.size == 0 or np.any(o != np.round(o)) or np.any(o < 1):
        raise BayesianDPError(f"orders={orders!r}: need a non-empty list of integers >= 1")
    return o.astype(np.int64)


def _check_cost(cost: str) -> str:
    if cost not in ("paper", "left"):
        raise BayesianDPError(f"cost={cost!r}: allowed values are 'paper' and 'left'")
    return cost


@functools.lru_cache(maxsize=64)
def _binomial_tables(q: float, orders: tuple[int, ...]):
    """Padded ``log Bin(k; n, q)`` and exponents for all orders: ``[O, max_order + 2]``.

    Row ``o`` of the left table holds ``K ~ Bin(lambda + 1, q)`` with exponent ``K^2 - K``;
    the right table ``K ~ Bin(lambda, q)`` with ``K^2 + K``. Entries past ``n`` are
    ``-inf`` (zero mass) so one ``logsumexp`` over the last axis serves every order.
    """
    width = max(orders) + 2
    k = np.arange(width, dtype=float)
    tables = []
    for extra, sign in ((1, -1.0), (0, 1.0)):
        n = np.asarray(orders)[:, None] + extra
        with np.errstate(divide="ignore"):
            logpmf = np.where(k[None, :] <= n, stats.binom.logpmf(k[None, :], n, q), -np.inf)
        expo = np.where(k[None, :] <= n, k * k + sign * k, 0.0)
        tables.append((logpmf, expo))
    return tables


def _cost_matrix(sq_distances: np.ndarray, *, orders: tuple[int, ...], sample_rate: float,
                 noise_multiplier: float, clip_norm: float) -> tuple[np.ndarray, np.ndarray]:
    """``c_L`` and ``c_R`` for every order and sample, each of shape ``[O, M]``."""
    scale = sq_distances / (2.0 * noise_multiplier**2 * clip_norm**2)
    out = []
    for logpmf, expo in _binomial_tables(float(sample_rate), orders):
        a = logpmf[:, None, :] + scale[None, :, None] * expo[:, None, :]
        top = a.max(axis=2)          # finite: some K always has positive mass
        c = top + np.log(np.exp(a - top[..., None]).sum(axis=2))
        # Identical neighbours cost exactly nothing; logsumexp of the pmf alone is 0 only up
        # to rounding, which would make Delta = 0 look like a (tiny) privacy loss.
        out.append(np.where(scale[None, :] == 0, 0.0, c))
    return out[0], out[1]


def _check_distances(d) -> np.ndarray:
    d = np.atleast_1d(np.asarray(d, dtype=float))
    if d.ndim != 1 or not np.all(np.isfinite(d)) or np.any(d < 0):
        raise BayesianDPError("sq_distances: need a 1-D array of finite values >= 0")
    return d


def bdp_cost_terms(sq_distances, *, order: int, sample_rate: float, noise_multiplier: float,
                   clip_norm: float) -> tuple[np.ndarray, np.ndarray]:
    """Left and right privacy costs ``c_L^(m)(lambda)``, ``c_R^(m)(lambda)`` (Alg. 2 l. 25-26).

    Parameters
    ----------
    sq_distances : array_like, shape (M,)
        ``Delta^(m)``, squared distances between clipped gradient sums.
    order : int
        Renyi order ``lambda >= 1``.
    sample_rate, noise_multiplier, clip_norm : float
        ``q``, ``sigma`` and ``C``; the noise standard deviation is ``sigma * C``.

    Returns
    -------
    c_left, c_right : numpy.ndarray, shape (M,)

    Examples
    --------
    With ``q = 1`` both equal the Gaussian Renyi term ``lambda (lambda + 1) Delta / (2 sigma^2 C^2)``:

    >>> cl, cr = bdp_cost_terms([1.0], order=3, sample_rate=1.0, noise_multiplier=2.0,
    ...                         clip_norm=1.0)
    >>> float(cl[0]), float(cr[0])
    (1.5, 1.5)
    """
    q = _check_unit("sample_rate", sample_rate, closed_right=True)
    sigma = _check_positive("noise_multiplier", noise_multiplier)
    C = _check_positive("clip_norm", clip_norm)
    lam = int(order)
    if lam != order or lam < 1:
        raise BayesianDPError(f"order={order!r}: must be an integer >= 1")
    cl, cr = _cost_matrix(_check_distances(sq_distances), orders=(lam,), sample_rate=q,
                          noise_multiplier=sigma, clip_norm=C)
    return cl[0], cr[0]


@functools.lru_cache(maxsize=64)
def _t_quantile(gamma: float, m: int) -> float:
    # isf(gamma) rather than ppf(1 - gamma): 1 - 1e-16 rounds to 1 and ppf would return inf.
    return float(stats.t.isf(gamma, df=m - 1))


def _log_ucb_mean_exp(log_x: np.ndarray, gamma: float) -> np.ndarray:
    """Row-wise ``log( mean(e^a) + t_{1-gamma, M-1} * sd(e^a) / sqrt(M) )``, in log space.

    ``log_x`` has shape ``[O, M]``; the result has shape ``[O]``.
    """
    M = log_x.shape[-1]
    top = log_x.max(axis=-1, keepdims=True)
    y = np.exp(log_x - top)
    mean = y.mean(axis=-1)
    sd = y.std(axis=-1, ddof=1)
    return top[..., 0] + np.log(mean + _t_quantile(gamma, M) * sd / np.sqrt(M))


class BayesianAccountant:
    """Per-client Bayesian DP accountant of FSL-BDP Algorithm 2 (see the module docstring).

    Parameters
    ----------
    sample_rate : float
        ``q = B / n_k`` in ``(0, 1]``.
    noise_multiplier : float
        ``sigma``; noise standard deviation is ``sigma * clip_norm`` on the clipped sum.
    clip_norm : float
        ``C``.
    beta : float
        Privacy failure probability of eq. 9, in ``(0, 1)``.
    gamma : float
        Per-step failure probability of the Monte-Carlo upper bound, in ``(0, 1)``.
    n_rows : int
        Client dataset size ``n_k``; below ``min_rows`` every step uses the analytical
        (classical) fallback.
    orders : sequence of int, optional
        Renyi orders ``Lambda``; default :data:`DEFAULT_BDP_ORDERS`.
    cost : {"paper", "left"}
        ``max(c_L, c_R)`` as Algorithm 2 prints, or ``c_L`` only (reference implementation).
    holder_steps : int, optional
        Total number of steps ``H`` for the Hoelder correction; ``None`` = no correction.
    min_rows : int
        Threshold of the analytical fallback (paper: 100).

    Examples
    --------
    >>> acc = BayesianAccountant(sample_rate=1.0, noise_multiplier=1.0, clip_norm=1.0,
    ...                          beta=1e-5, gamma=1e-3, n_rows=1000, orders=[1, 2, 4])
    >>> acc.step([0.0, 0.0, 0.0]).tolist()          # identical neighbours cost nothing
    [0.0, 0.0, 0.0]
    >>> eps, delta = acc.epsilon(); round(eps, 4), delta   # -log(beta) / max(orders)
    (2.8782, 0.00101)
    """

    def __init__(self, *, sample_rate: float, noise_multiplier: float, clip_norm: float,
                 beta: float, gamma: float, n_rows: int,
                 orders: Sequence[int] | None = None, cost: CostRule = "paper",
                 holder_steps: int | None = None, min_rows: int = MIN_ROWS_BAYESIAN) -> None:
        self.sample_rate = _check_unit("sample_rate", sample_rate, closed_right=True)
        self.noise_multiplier = _check_positive("noise_multiplier", noise_multiplier)
        self.clip_norm = _check_positive("clip_norm", clip_norm)
        self.beta = _check_unit("beta", beta)
        self.gamma = _check_unit("gamma", gamma)
        if int(n_rows) != n_rows or n_rows < 1:
            raise BayesianDPError(f"n_rows={n_rows!r}: must be an integer >= 1")
        self.n_rows = int(n_rows)
        self.orders = _check_orders(orders)
        self.cost = _check_cost(cost)
        if holder_steps is not None and (int(holder_steps) != holder_steps or holder_steps < 1):
            raise BayesianDPError(f"holder_steps={holder_steps!r}: must be None or an integer >= 1")
        self.holder_steps = None if holder_steps is None else int(holder_steps)
        self.min_rows = int(min_rows)
        self.uses_fallback = self.n_rows < self.min_rows
        self._fallback_cost = (
            analytical_step_cost(orders=self.orders, sample_rate=self.sample_rate,
                                 noise_multiplier=self.noise_multiplier)
            if self.uses_fallback else None)
        self.total_cost = np.zeros(self.orders.size)
        self.steps = 0
        self.estimated_steps = 0
        self.history: list[np.ndarray] = []

    def step_cost(self, pairwise_sq_distances) -> np.ndarray:
        """Per-order cost ``c_e(lambda)`` of one step, without recording it."""
        if self.uses_fallback:
            return self._fallback_cost.copy()
        d = np.asarray(pairwise_sq_distances, dtype=float)
        if d.ndim != 1 or d.size < 2:
            raise BayesianDPError(
                f"pairwise_sq_distances has shape {d.shape}: need M >= 2 Monte-Carlo samples")
        H = 1 if self.holder_steps is None else self.holder_steps
        cl, cr = _cost_matrix(_check_distances(d), orders=tuple(self.orders.tolist()),
                              sample_rate=self.sample_rate,
                              noise_multiplier=self.noise_multiplier, clip_norm=self.clip_norm)
        c = np.maximum(cl, cr) if self.cost == "paper" else cl
        return _log_ucb_mean_exp(H * c, self.gamma) / H

    def step(self, pairwise_sq_distances) -> np.ndarray:
        """Record one DP-SGD step from its ``M`` Monte-Carlo distances ``Delta^(m)``.

        Returns the per-order cost added to ``C_tot``. With the analytical fallback the
        distances are ignored (pass anything, e.g. ``None``).
        """
        if self.holder_steps is not None and self.steps >= self.holder_steps:
            raise BayesianDPError(
                f"step {self.steps + 1}: holder_steps={self.holder_steps} was set for fewer "
                "steps; create the accountant with the true total number of steps")
        c = self.step_cost(pairwise_sq_distances)
        self.total_cost += c
        self.steps += 1
        self.estimated_steps += 0 if self.uses_fallback else 1
        self.history.append(c)
        return c

    def epsilon_per_order(self) -> np.ndarray:
        """``eps_mu(lambda) = (C_tot(lambda) - log beta) / lambda`` for every order (eq. 9)."""
        return (self.total_cost - np.log(self.beta)) / self.orders

    @property
    def delta(self) -> float:
        """``beta + gamma_total`` with ``gamma_total = 1 - (1 - gamma)^E`` over estimated steps."""
        return self.beta + float(-np.expm1(self.estimated_steps * np.log1p(-self.gamma)))

    def epsilon(self) -> tuple[float, float]:
        """The ``(eps_mu, delta_mu)`` guarantee so far (Alg. 2 lines 34-38)."""
        return float(np.min(self.epsilon_per_order())), self.delta

    def best_order(self) -> int:
        """The order ``lambda`` attaining the minimum in eq. 9."""
        return int(self.orders[int(np.argmin(self.epsilon_per_order()))])


def analytical_step_cost(*, orders, sample_rate: float, noise_multiplier: float) -> np.ndarray:
    """Classical per-step cost ``lambda * RDP_{lambda+1}`` of the Poisson-subsampled Gaussian.

    Computed by dp-accounting (sensitivity ``C``, add/remove adjacency); used as the
    analytical fallback for small clients.

    >>> np.round(analytical_step_cost(orders=[1, 2], sample_rate=1.0, noise_multiplier=1.0), 6).tolist()
    [1.0, 3.0]
    """
    import dp_accounting  # deferred: only small clients need it

    o = _check_orders(orders)
    acc = dp_accounting.rdp.RdpAccountant(orders=[float(x + 1) for x in o])
    acc.compose(dp_accounting.PoissonSampledDpEvent(
        float(sample_rate), dp_accounting.GaussianDpEvent(float(noise_multiplier))), 1)
    return np.asarray(acc.rdp, dtype=float) * o


def neighbour_distances_from_per_example(per_example_grads, replacement_grads, *,
                                         clip_norm: float,
                                         rng: np.random.Generator) -> np.ndarray:
    """Monte-Carlo ``Delta^(m)`` of Algorithm 2 lines 15-20 from per-example gradients.

    Neighbour batch ``m`` swaps example ``i_m`` (drawn uniformly from the batch with ``rng``)
    for replacement ``m``; the clipped sums then differ only in that term, so
    ``Delta^(m) = ||clip(g_{i_m}) - clip(g'_m)||^2`` with ``clip(g) = g / max(1, ||g|| / C)``.
    The replacement gradients are per-example gradients of rows drawn from the client's
    data distribution (e.g. rows of the client outside the batch), so no extra backward pass
    is needed beyond the per-example gradients DP-SGD computes anyway.

    Parameters
    ----------
    per_example_grads : array_like, shape (B, P)
        Unclipped (or already clipped) per-example gradients of the batch, flattened.
    replacement_grads : array_like, shape (M, P)
        Per-example gradients of the ``M`` replacement draws ``x'^(m) ~ mu``.
    clip_norm : float
        ``C``.
    rng : numpy.random.Generator
        Chooses which batch element each replacement swaps out.

    Returns
    -------
    numpy.ndarray, shape (M,)
        Squared distances on the scale of the gradient *sum* (``<= (2C)^2``).

    Examples
    --------
    >>> g = np.array([[3.0, 0.0], [0.0, 0.5]]); r = np.array([[-2.0, 0.0]])
    >>> d = neighbour_distances_from_per_example(g, r, clip_norm=1.0,
    ...                                          rng=np.random.default_rng(0))
    >>> d.tolist()   # swapped example 1: clip([0, .5]) - clip([-2, 0]) = [1, .5]
    [1.25]
    """
    C = _check_positive("clip_norm", clip_norm)

    def as_2d(name, x):
        if hasattr(x, "detach"):
            x = x.detach().cpu().numpy()
        x = np.asarray(x, dtype=np.float64)
        if x.ndim != 2 or x.shape[0] == 0:
            raise BayesianDPError(f"{name} has shape {x.shape}: need a non-empty 2-D array")
        return x

    g = as_2d("per_example_grads", per_example_grads)
    r = as_2d("replacement_grads", replacement_grads)
    if g.shape[1] != r.shape[1]:
        raise BayesianDPError(
            f"per_example_grads has {g.shape[1]} parameters, replacement_grads {r.shape[1]}")
    if not isinstance(rng, np.random.Generator):
        raise BayesianDPError(f"rng={rng!r}: must be a numpy.random.Generator")
    idx = rng.integers(0, g.shape[0], size=r.shape[0])

    def clip(x):
        norms = np.linalg.norm(x, axis=1, keepdims=True)
        return x / np.maximum(1.0, norms / C)

    diff = clip(g[idx]) - clip(r)
    return np.einsum("ij,ij->i", diff, diff)


def calibrate_bdp_noise(*, target_epsilon: float, sample_rate: float, steps: int,
                        clip_norm: float, sq_distance: float, beta: float,
                        orders: Sequence[int] | None = None, cost: CostRule = "paper",
                        bounds: tuple[float, float] = (0.05, 500.0)) -> float:
    """Smallest ``sigma`` whose Bayesian ``eps_mu`` after ``steps`` steps is ``<= target``.

    Assumes every step's Monte-Carlo distances equal ``sq_distance`` (a planning estimate,
    e.g. the median of ``Delta`` from a pilot epoch); the sample variance is then zero and
    the confidence bound adds nothing, so ``gamma`` does not enter. The actual run must still
    be accounted step by step with :class:`BayesianAccountant`.

    Examples
    --------
    >>> s = calibrate_bdp_noise(target_epsilon=1.0, sample_rate=0.01, steps=1000,
    ...                         clip_norm=1.0, sq_distance=0.5, beta=1e-5, cost="left")
    >>> acc = BayesianAccountant(sample_rate=0.01, noise_multiplier=s, clip_norm=1.0,
    ...                          beta=1e-5, gamma=1e-9, n_rows=10_000, cost="left")
    >>> acc.total_cost += 1000 * acc.step_cost([0.5, 0.5])
    >>> round(acc.epsilon()[0], 3)
    1.0
    """
    target = _check_positive("target_epsilon", target_epsilon)
    _check_unit("sample_rate", sample_rate, closed_right=True)
    _check_unit("beta", beta)
    _check_positive("clip_norm", clip_norm)
    if int(steps) != steps or steps < 1:
        raise BayesianDPError(f"steps={steps!r}: must be an integer >= 1")
    if not (np.isfinite(sq_distance) and sq_distance >= 0):
        raise BayesianDPError(f"sq_distance={sq_distance!r}: must be finite and >= 0")
    o = _check_orders(orders)
    _check_cost(cost)
    floor = float(np.min(-np.log(beta) / o))
    if target <= floor:
        raise BayesianDPError(
            f"target_epsilon={target!r}: unreachable, eps_mu >= -log(beta)/max(orders) = "
            f"{floor:.4g} even without noise cost; add larger orders or raise beta")

    def eps(log_sigma: float) -> float:
        cl, cr = _cost_matrix(np.array([float(sq_distance)]), orders=tuple(o.tolist()),
                              sample_rate=float(sample_rate),
                              noise_multiplier=float(np.exp(log_sigma)), clip_norm=clip_norm)
        tot = steps * (np.maximum(cl, cr) if cost == "paper" else cl)[:, 0]
        return float(np.min((tot - np.log(beta)) / o)) - target

    lo, hi = np.log(bounds[0]), np.log(bounds[1])
    if eps(hi) > 0:
        raise BayesianDPError(
            f"target_epsilon={target!r}: not reached even with noise_multiplier={bounds[1]}")
    if eps(lo) <= 0:
        return float(bounds[0])
    root = optimize.brentq(eps, lo, hi, xtol=1e-12)
    # Step just past the root so that eps_mu(sigma) <= target holds, not merely ~=.
    return float(np.exp(root + 1e-9))
