"""Posterior mean and standard deviation of a fitted GP at very many points.

GPyTorch's generic prediction path builds the joint covariance of every test
point in a call (N x N), which for pools of 10^5-10^6 rows runs out of memory
or time. For a single-output ``SingleTaskGP`` this module computes the
marginals directly, chunk by chunk, from pieces cached once per model:

* ``alpha = K^-1 (y - c)`` (Cholesky of the training covariance plus noise)
  gives the mean ``c + k*^T alpha``: one cross-covariance product per chunk.
* The variance ``k** - k*^T K^-1 k*`` exactly, with ``W = L^-1`` (cost
  N x n^2), or, for huge pools, from the top ``rank`` eigen-directions of
  ``K``: ``k** - ||P^T k*||^2`` with ``P = U_r Lambda_r^-1/2`` (cost
  N x n x rank; the directions from a randomized range finder). Restricting
  ``K^-1``'s quadratic form to a subspace can only lower it, so the
  approximate standard deviation is an **upper bound** of the exact one
  (conservative: a candidate can only look more uncertain than it is). The
  planners re-score their shortlist exactly before choosing.
* The Matern/RBF kernels that ``fit_gp`` builds are evaluated by a small
  in-place implementation (float32 for huge pools, float64 otherwise); any
  other kernel goes through its GPyTorch module.
* ``screen`` is the fastest pass, for pools of 10^5-10^6 rows: one float32
  sweep over cache-sized chunks that yields the mean and the low-rank
  (upper-bound) standard deviation from a single matrix product per chunk
  (``k*^T [alpha | P]``), with the inputs pre-scaled by the lengthscales and
  centred (less cancellation in the float32 distances) and the output scale
  folded into ``[alpha | P]``. Its float32 error is measured, not assumed:
  ``pool_select`` compares it with ``exact`` (float64) on the rows it checks.
* ``joint`` gives the exact float64 joint posterior of a shortlist (for the
  kriging-believer batch) from the cached Cholesky factor.
"""

from __future__ import annotations

import math

import torch
from gpytorch.kernels import MaternKernel, RBFKernel, ScaleKernel

#: Pools with N * n^2 above this use the low-rank (upper-bound) variance.
EXACT_BUDGET = 4e10
#: Eigen-directions kept by the low-rank variance.
DEFAULT_RANK = 256


def _kernel_spec(kernel) -> tuple[str, float, torch.Tensor, float] | None:
    """(kind, nu, lengthscale (d,), outputscale) for kernels this module evaluates itself."""
    scale = 1.0
    if isinstance(kernel, ScaleKernel):
        if kernel.outputscale.numel() != 1:
            return None
        scale = float(kernel.outputscale)
        kernel = kernel.base_kernel
    if getattr(kernel, "active_dims", None) is not None or kernel.batch_shape != torch.Size([]):
        return None
    if isinstance(kernel, MaternKernel) and kernel.nu in (0.5, 1.5, 2.5):
        return "matern", float(kernel.nu), kernel.lengthscale.detach().reshape(-1), scale
    if isinstance(kernel, RBFKernel):
        return "rbf", 0.0, kernel.lengthscale.detach().reshape(-1), scale
    return None


def _cross(spec, A: torch.Tensor, B: torch.Tensor, out: torch.Tensor | None = None,
           work: torch.Tensor | None = None) -> torch.Tensor:
    """Kernel matrix k(A, B) for inputs already divided by the lengthscales.

    Works in place in ``out`` (and ``work``, same shape) when given: fresh
    multi-megabyte buffers per chunk cost more in page faults than the
    arithmetic, so the pool loop reuses two buffers for every chunk.
    """
    kind, nu, _, scale = spec
    shape = (A.shape[0], B.shape[0])
    out = torch.empty(shape, dtype=A.dtype) if out is None else out[: shape[0]]
    work = torch.empty(shape, dtype=A.dtype) if work is None else work[: shape[0]]
    torch.addmm((A * A).sum(1, keepdim=True), A, B.T, alpha=-2.0, out=out)
    out.add_((B * B).sum(1)).clamp_(min=0.0)  # squared distance
    if kind == "rbf":
        return out.mul_(-0.5).exp_().mul_(scale)
    if nu == 0.5:
        return out.sqrt_().neg_().exp_().mul_(scale)
    c = math.sqrt(3.0) if nu == 1.5 else math.sqrt(5.0)
    r = out.mul_(c * c).sqrt_()  # r = c * distance
    torch.neg(r, out=work).exp_()  # work = exp(-r)
    if nu == 1.5:
        return r.add_(1.0).mul_(work).mul_(scale)
    # (1 + r + r^2 / 3) exp(-r), in place: r <- r + r * r / 3
    return r.addcmul_(r, r, value=1.0 / 3.0).add_(1.0).mul_(work).mul_(scale)


class PoolPredictor:
    """Marginal posterior of a single-output ``SingleTaskGP`` at many points, chunked."""

    def __init__(self, model) -> None:
        model.eval()
        self.model = model
        with torch.no_grad():
            xt = model.train_inputs[0]
            if xt.dim() != 2:
                raise ValueError("PoolPredictor needs a single-output, non-batched GP")
            self.spec = _kernel_spec(model.covar_module)
            n = xt.shape[0]
            noise = model.likelihood.noise.detach().reshape(-1)
            noise = noise.expand(n) if noise.numel() == 1 else noise
            K = self._k(xt, xt, torch.float64) + torch.diag(noise.to(torch.float64))
            jitter = 0.0
            for _ in range(6):
                L, info = torch.linalg.cholesky_ex(K + jitter * torch.eye(n, dtype=K.dtype))
                if int(info) == 0:
                    break
                jitter = max(1e-10, jitter * 10)
            else:
                raise ValueError("the GP's training covariance is not positive definite")
            self.xt = xt.to(torch.float64)
            self.const = float(model.mean_module.constant) if hasattr(model.mean_module, "constant") else 0.0
            y = model.train_targets.reshape(-1).to(torch.float64) - self.const
            self.alpha = torch.cholesky_solve(y[:, None], L)[:, 0]
            self.L = L
            self.K = K
            self._winv: torch.Tensor | None = None
            self._proj: dict[int, torch.Tensor] = {}
            tf = getattr(model, "outcome_transform", None)
            self.y_mean = float(tf.means.reshape(-1)[0]) if tf is not None else 0.0
            self.y_std = float(tf.stdvs.reshape(-1)[0]) if tf is not None else 1.0
            self.prior_var = float(self._k(xt[:1], xt[:1], torch.float64)[0, 0])

    def _k(self, A: torch.Tensor, B: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
        if self.spec is None:
            return self.model.covar_module(A.to(torch.float64), B.to(torch.float64)).to_dense().to(dtype)
        ls = self.spec[2].to(dtype)
        return _cross(self.spec, A.to(dtype) / ls, B.to(dtype) / ls)

    def _variance_map(self, rank: int | None) -> torch.Tensor:
        """(n, r) matrix M with ``k*^T K^-1 k* ~= ||M^T k*||^2`` (exact when rank is None)."""
        if rank is None or rank >= self.xt.shape[0]:
            if self._winv is None:
                eye = torch.eye(self.xt.shape[0], dtype=torch.float64)
                self._winv = torch.linalg.solve_triangular(self.L, eye, upper=False).T.contiguous()
            return self._winv
        if rank not in self._proj:
            # Any subspace span(Q) gives a lower bound k^T Q (Q^T K Q)^-1 Q^T k <= k^T K^-1 k
            # (the variational form of K^-1), hence an upper bound of the variance; a randomized
            # range finder (two power steps) finds the top eigen-directions in O(n^2 r)
            # instead of a full O(n^3) eigendecomposition.
            n = self.K.shape[0]
            g = torch.Generator().manual_seed(0)
            Y = self.K @ (self.K @ torch.randn(n, rank, generator=g, dtype=torch.float64))
            Q, _ = torch.linalg.qr(Y)
            lam, V = torch.linalg.eigh(Q.T @ self.K @ Q)
            self._proj[rank] = (Q @ V / lam.clamp_min(1e-12).sqrt()).contiguous()
        return self._proj[rank]

    def predict(self, X: torch.Tensor, chunk: int = 4096, rank: int | None = None, fast_dtype: bool = False):
        """Mean and std (original outcome units) at ``X`` (N, d), rows in the model's input space."""
        dtype = torch.float32 if fast_dtype else torch.float64
        n = self.xt.shape[0]
        with torch.no_grad():
            M = self._variance_map(rank).to(dtype)
            alpha = self.alpha.to(dtype)
            xt = self.xt.to(dtype)
            if self.spec is not None:
                xt = xt / self.spec[2].to(dtype)
            mean = torch.empty(X.shape[0], dtype=torch.float64)
            var = torch.empty(X.shape[0], dtype=torch.float64)
            rows = min(chunk, max(1, X.shape[0]))
            buf = torch.empty(rows, n, dtype=dtype)
            work = torch.empty(rows, n, dtype=dtype)
            proj = torch.empty(rows, M.shape[1], dtype=dtype)
            for s in range(0, X.shape[0], chunk):
                xs = X[s : s + chunk].to(torch.float64)  # a float32 pool is converted one chunk at a time
                xs = self.model.input_transform(xs) if hasattr(self.model, "input_transform") else xs
                c = xs.shape[0]
                if self.spec is None:
                    ks = self._k(xs, self.xt, dtype)
                else:
                    ks = _cross(self.spec, xs.to(dtype) / self.spec[2].to(dtype), xt, buf, work)
                mean[s : s + c] = (ks @ alpha).to(torch.float64)
                v = torch.mm(ks, M, out=proj[:c])
                var[s : s + c] = self.prior_var - v.mul_(v).sum(1).to(torch.float64)
        mean = mean.add_(self.const).mul_(self.y_std).add_(self.y_mean)
        std = var.clamp_min_(0.0).sqrt_().mul_(self.y_std)
        return mean, std


    # -- the fast screening pass and the exact pieces pool_select needs -----------
    def _scaled(self, x: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
        """Inputs (already transformed) centred and divided by the lengthscales, times the kernel's distance factor."""
        kind, nu, ls, _ = self.spec
        c = 1.0 if kind == "rbf" or nu == 0.5 else (math.sqrt(3.0) if nu == 1.5 else math.sqrt(5.0))
        return ((x.to(torch.float64) - self._centre) * (c / ls.to(torch.float64))).to(dtype)

    def _unit_kernel(self, A: torch.Tensor, B: torch.Tensor, out: torch.Tensor, work: torch.Tensor) -> torch.Tensor:
        """k/outputscale for augmented pre-scaled inputs (``_augment``), in place in ``out`` (``work`` same shape).

        ``A @ B.T`` of the augmented rows is the squared distance; then 5
        element-wise passes for Matern-5/2 (the pool sweep is bound by them).
        """
        kind, nu, _, _ = self.spec
        torch.mm(A, B.T, out=out).clamp_(min=0.0)  # squared distance
        if kind == "rbf":
            return out.mul_(-0.5).exp_()
        r = out.sqrt_()
        torch.neg(r, out=work).exp_()  # exp(-r)
        if nu == 0.5:
            return out.copy_(work)
        if nu == 1.5:
            return torch.addcmul(work, r, work, out=out)  # (1 + r) exp(-r)
        r.addcmul_(r, r, value=1.0 / 3.0)  # r + r^2 / 3
        return torch.addcmul(work, r, work, out=out)  # (1 + r + r^2 / 3) exp(-r)

    @staticmethod
    def _augment(x: torch.Tensor, left: bool) -> torch.Tensor:
        """Rows [x, |x|^2, 1] (left) or [-2x, 1, |x|^2] (right): their product is the squared distance."""
        sq = (x * x).sum(1, keepdim=True)
        one = torch.ones_like(sq)
        return torch.cat([x, sq, one], 1) if left else torch.cat([-2.0 * x, one, sq], 1)

    def screen(self, X: torch.Tensor, chunk: int = 2048, rank: int = 32) -> tuple[torch.Tensor, torch.Tensor]:
        """Float32 mean and low-rank upper-bound std (outcome units, float64 tensors) at ``X`` (N, d)."""
        if self.spec is None:
            return self.predict(X, chunk=chunk, rank=rank, fast_dtype=True)
        n = self.xt.shape[0]
        f32 = torch.float32
        scale = self.spec[3]
        if not hasattr(self, "_centre"):
            self._centre = self.xt.mean(0)
        M = self._variance_map(rank if rank < n else None)
        R = torch.cat([self.alpha[:, None], M], 1).mul(scale).to(f32).contiguous()
        B = self._augment(self._scaled(self.xt, torch.float64), left=False).to(f32).contiguous()
        N = X.shape[0]
        mean = torch.empty(N, dtype=torch.float64)
        var = torch.empty(N, dtype=torch.float64)
        rows = min(chunk, max(1, N))
        buf, work = torch.empty(rows, n, dtype=f32), torch.empty(rows, n, dtype=f32)
        prod = torch.empty(rows, R.shape[1], dtype=f32)
        transform = getattr(self.model, "input_transform", None)
        with torch.no_grad():
            for s in range(0, N, chunk):
                xs = X[s : s + chunk].to(torch.float64)
                xs = transform(xs) if transform is not None else xs
                c = xs.shape[0]
                ks = self._unit_kernel(self._augment(self._scaled(xs, f32), left=True), B, buf[:c], work[:c])
                out = torch.mm(ks, R, out=prod[:c])
                mean[s : s + c] = out[:, 0]
                var[s : s + c] = out[:, 1:].pow_(2).sum(1)
        mean.add_(self.const).mul_(self.y_std).add_(self.y_mean)
        std = var.neg_().add_(self.prior_var).clamp_min_(0.0).sqrt_().mul_(self.y_std)
        return mean, std

    def exact(self, X: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Exact float64 mean and std (outcome units) at ``X``: for shortlists."""
        return self.predict(X, chunk=4096, rank=None, fast_dtype=False)

    def joint(self, X: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Exact float64 mean (S,), latent covariance (S, S) and noise variance (S,) at ``X``, outcome units."""
        with torch.no_grad():
            X = X.to(torch.float64)
            xs = self.model.input_transform(X) if hasattr(self.model, "input_transform") else X
            xs = xs.to(torch.float64)
            ks = self._k(xs, self.xt, torch.float64)  # (S, n)
            mean = (ks @ self.alpha + self.const) * self.y_std + self.y_mean
            V = torch.linalg.solve_triangular(self.L, ks.T, upper=False)  # (n, S)
            cov = (self._k(xs, xs, torch.float64) - V.T @ V) * self.y_std**2
            noise = self.model.likelihood.noise.detach().reshape(-1).to(torch.float64)
            noise = (noise.expand(xs.shape[0]) if noise.numel() == 1 else noise) * self.y_std**2
        return mean, cov, noise.clone()


def predictor(model) -> PoolPredictor:
    """The model's cached ``PoolPredictor`` (built on first use)."""
    cached = getattr(model, "_labpilot_pool_predictor", None)
    if cached is None:
        cached = PoolPredictor(model)
        object.__setattr__(model, "_labpilot_pool_predictor", cached)
    return cached


def supports(model) -> bool:
    """Whether ``PoolPredictor`` handles this model (a single-output, non-batched exact GP)."""
    xs = getattr(model, "train_inputs", None)
    return (
        getattr(model, "_task_feature", None) is None  # a MultiTaskGP (``planners.transfer``) has its own path
        and getattr(model, "num_outputs", 0) == 1
        and xs is not None
        and xs[0].dim() == 2
        and hasattr(getattr(model, "likelihood", None), "noise")
        and hasattr(model, "mean_module")
    )
