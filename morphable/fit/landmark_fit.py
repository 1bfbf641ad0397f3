"""Stage 1 of fitting: pose, translation, identity and expression from 2D landmarks.

A batched Gauss-Newton / Levenberg-Marquardt solver with an analytic Jacobian. Residuals are
the projected model landmarks minus the detected ones, in units of each face's detected
inter-ocular distance (so the weights do not depend on image size), plus MAP priors:
identity ~ N(0, 1) per component, expression with a small L2 + L1 pull toward 0 and clamped
to [0, 1]. Rotation is updated multiplicatively (R <- exp(w) R), so there is no gimbal trouble
inside the solver; Euler angles are read out at the end. With `shared_identity` the identity
block is one vector for the whole batch (video frames of one person), solved exactly by a
Schur complement over the per-frame blocks. The landmark set is iBUG-68 (dlib; jaw contour
down-weighted or marched) or MediaPipe's dense mesh points (fixed surface points, no marching).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from pytorch3d.transforms import so3_exp_map

from ..camera import Camera
from ..errors import MorphableError
from ..model import MorphableModel
from ..params import FaceParams
from ..pose import euler_to_matrix, matrix_to_euler
from .contour import contour_candidates
from .geometry import inter_ocular, vertex_bases
from .landmark_set import LandmarkSet, ibug68_set, with_inner_lips

#: iBUG-68 jaw contour: these points slide along the silhouette as the head turns
JAW_CONTOUR = tuple(range(17))


@dataclass(frozen=True)
class LandmarkFitConfig:
    """Weights and iteration counts of the landmark stage (residual unit: inter-ocular distance)."""

    iterations: int = 10
    #: expected landmark noise (fraction of inter-ocular distance); residuals are divided by it
    sigma: float = 0.04
    identity_prior: float = 1.0       # 0.5 * w * |id|^2 : N(0,1) when w = 1
    expression_l2: float = 2.0        # 0.5 * w * |e|^2
    expression_l1: float = 0.5        # w * sum(e), e >= 0
    #: weight of the jaw-contour points (their model vertex is only right for a frontal view)
    jaw_weight: float = 0.1
    #: extra factor on the contour side turning away from the camera once |yaw| > 10 deg
    #: (used when contour marching is off)
    occluded_jaw_weight: float = 0.1
    #: slide the turned-away jaw points along their horizontal vertex line to the silhouette
    contour_marching: bool = False  # measured worse with dlib (docs/fitting.md); opt-in
    #: weight of the depth rows of dense (MediaPipe) targets relative to their x, y rows (docs/fitting.md)
    depth_weight: float = 3.0
    damping: float = 1e-3
    #: dense sets: fit every point of MediaPipe's inner-lip ring (landmark_set.with_inner_lips; the 200-point
    #: subset holds 3 of its 20), and weigh the ring's points by lip_weight: the fitted lips sit on the
    #: photo's and part as far (tpsmm_driving's frame 0: model lips 0.057 -> 0.098 IOD apart at weight 4,
    #: MediaPipe's 0.112, dlib's 0.092)
    inner_lips: bool = False
    lip_weight: float = 1.0
    fit_identity: bool = True
    fit_expression: bool = True


def _skew(v: torch.Tensor) -> torch.Tensor:
    """(..., 3) -> (..., 3, 3) cross-product matrices [v]_x."""
    x, y, z = v.unbind(-1)
    zero = torch.zeros_like(x)
    return torch.stack([zero, -z, y, z, zero, -x, -y, x, zero], -1).reshape(*v.shape, 3)


def pixels_to_ndc(points: torch.Tensor, size: torch.Tensor | float) -> torch.Tensor:
    """Pixel coordinates (B,N,2) in a square frame of `size` px -> camera NDC (x right, y up)."""
    size = torch.as_tensor(size, dtype=points.dtype, device=points.device).reshape(-1, 1)
    half = size / 2.0
    return torch.stack([(points[..., 0] - half) / half, (half - points[..., 1]) / half], -1)


def ndc_to_pixels(ndc: torch.Tensor, size: torch.Tensor | float) -> torch.Tensor:
    """Inverse of pixels_to_ndc."""
    size = torch.as_tensor(size, dtype=ndc.dtype, device=ndc.device).reshape(-1, 1)
    half = size / 2.0
    return torch.stack([half + half * ndc[..., 0], half - half * ndc[..., 1]], -1)


def initial_pose(model: MorphableModel, target_ndc: torch.Tensor, camera: Camera,
                 identity: torch.Tensor | None = None, vertices: torch.Tensor | None = None,
                 eyes: tuple[int, int] = (36, 45)) -> tuple[torch.Tensor, torch.Tensor]:
    """Rotation (B,3,3) and translation (B,3) from the eye line (roll), eye distance (depth) and centroid.

    `vertices` (N,) are the model points of the target rows (default: the iBUG-68 landmarks) and
    `eyes` the rows of the outer eye corners.
    """
    b = target_ndc.shape[0]
    dt = target_ndc.dtype
    ident = torch.zeros(b, model.num_identity, dtype=dt) if identity is None else identity.to(dt)
    lm = model.shape(ident.to(model.template.dtype), torch.zeros(b, 52, dtype=model.template.dtype))
    lm = lm[:, model.landmarks if vertices is None else vertices.to(model.landmarks.device)].to(dt)
    ea, eb = eyes
    eye = target_ndc[:, eb] - target_ndc[:, ea]
    roll = torch.rad2deg(torch.atan2(eye[:, 1], eye[:, 0]))
    rot = euler_to_matrix(torch.zeros_like(roll), torch.zeros_like(roll), roll)
    iod_model = (lm[:, eb] - lm[:, ea]).norm(dim=-1)
    depth = iod_model / (eye.norm(dim=-1).clamp_min(1e-6) * camera.tan_half_fov)
    centre_ndc = target_ndc.mean(1)
    centre_model = (lm @ rot.transpose(1, 2)).mean(1)
    t = torch.stack([centre_ndc[:, 0] * depth * camera.tan_half_fov - centre_model[:, 0],
                     centre_ndc[:, 1] * depth * camera.tan_half_fov - centre_model[:, 1],
                     camera.distance - depth], -1)
    return rot, t


class LandmarkFitter:
    """Fits FaceParams' shape and pose blocks of one model to 2D landmarks (batched).

    `landmark_set` picks the points (default: the model's iBUG-68 landmarks).
    """

    def __init__(self, model: MorphableModel, camera: Camera | None = None,
                 config: LandmarkFitConfig | None = None, landmark_set: LandmarkSet | None = None):
        self.model = model
        self.camera = camera or Camera()
        self.config = config or LandmarkFitConfig()
        self.set = landmark_set or ibug68_set(model)
        if self.config.inner_lips:
            self.set = with_inner_lips(self.set, model)
        self.n = len(self.set)
        dt = torch.float64
        mean, id_basis, ex_basis = vertex_bases(model, self.set.vertices)
        self.expr_free = torch.nonzero(model.expression_present.cpu()).flatten()
        off = self.set.depth_offsets
        self.depth_offsets = None if off is None else off.to(dt)
        use_contour = self.config.contour_marching and not self.set.dense
        self.contour = contour_candidates(model) if use_contour else []
        extra = torch.cat([c for _, c, _ in self.contour]) if self.contour else torch.zeros(0, dtype=torch.long)
        # vertex table: rows 0..n-1 are the landmark vertices, then the contour candidates
        t_mean, t_id, t_ex = vertex_bases(model, extra)
        self.mean = torch.cat([mean, t_mean]).to(dt)                       # (N,3)
        self.id_basis = torch.cat([id_basis, t_id], 1).to(dt)              # (K,N,3), std folded in
        self.ex_basis = torch.cat([ex_basis, t_ex], 1)[self.expr_free].to(dt)  # (E,N,3)
        rows, start = [], self.n
        for j, cand, side in self.contour:
            rows.append((j, torch.arange(start, start + len(cand)), side))
            start += len(cand)
        self.contour_rows = rows

    # ---- residuals and Jacobian --------------------------------------------------------------
    def _landmarks(self, ident, expr, idx):
        """Shape-space points (B,N,3) of the vertex-table rows idx (B,N)."""
        if not self.contour_rows:   # no marching: every row is its own vertex, no per-frame gather
            n = self.n
            return self.mean[:n] + torch.einsum("bk,kic->bic", ident, self.id_basis[:, :n]) \
                + torch.einsum("be,eic->bic", expr, self.ex_basis[:, :n])
        return self.mean[idx] + torch.einsum("bk,kbic->bic", ident, self.id_basis[:, idx]) \
            + torch.einsum("be,ebic->bic", expr, self.ex_basis[:, idx])

    def marched_indices(self, rot, t, ident, expr, yaw) -> torch.Tensor:
        """(B,N) vertex-table rows: the landmarks, with turned-away jaw points moved to the silhouette."""
        b = rot.shape[0]
        idx = torch.arange(self.n).expand(b, self.n).clone()
        if not self.contour_rows:
            return idx
        away = [(j, rows, side) for j, rows, side in self.contour_rows]
        allrows = torch.cat([r for _, r, _ in away])
        pts = self.mean[allrows] + torch.einsum("bk,kic->bic", ident, self.id_basis[:, allrows]) \
            + torch.einsum("be,eic->bic", expr, self.ex_basis[:, allrows])
        y = pts @ rot.transpose(1, 2) + t[:, None]
        x_ndc = y[..., 0] / (self.camera.distance - y[..., 2]).clamp_min(1e-4)
        offset = 0
        for j, rows, side in away:
            n = len(rows)
            turned = side * yaw > 10.0
            if turned.any():
                best = torch.argmax(side * x_ndc[:, offset:offset + n], dim=1)
                idx[turned, j] = rows[best[turned]]
            offset += n
        return idx

    def weights(self, yaw: torch.Tensor) -> torch.Tensor:
        """(B,N) landmark weights: iBUG-68 jaw contour lowered (its turned-away side further); dense: the set's."""
        cfg = self.config
        if self.set.dense:
            w = self.set.weights.to(torch.float64).expand(yaw.shape[0], -1).clone()
            w[:, torch.as_tensor(self.set.inner_lips)] *= cfg.lip_weight
            return w
        w = torch.ones(yaw.shape[0], 68, dtype=torch.float64)
        w[:, list(JAW_CONTOUR)] = cfg.jaw_weight
        if self.contour_rows:  # turned-away points are moved to the silhouette instead
            return w
        away_right = yaw > 10.0   # yaw > 0 turns the image-right contour (9..16) away
        away_left = yaw < -10.0
        w[away_right, 9:17] *= cfg.occluded_jaw_weight
        w[away_left, 0:8] *= cfg.occluded_jaw_weight
        return w

    def _linearise(self, rot, t, ident, expr, target, scale, idx):
        """Residuals (B,2N) and Jacobian (B,2N,P) w.r.t. [w(3), t(3), id(K), expr(E)]."""
        cam = self.camera
        x = self._landmarks(ident, expr, idx)                    # (B,N,3)
        rx = x @ rot.transpose(1, 2)
        y = rx + t[:, None]
        d = (cam.distance - y[..., 2]).clamp_min(1e-4)           # (B,N)
        tf = cam.tan_half_fov
        proj = y[..., :2] / (d[..., None] * tf)
        res = (proj - target[..., :2]) / scale[:, None, None]    # (B,N,2)
        # d ndc / d y  (B,N,2,3)
        inv = 1.0 / (d * tf)
        zero = torch.zeros_like(inv)
        dn = torch.stack([torch.stack([inv, zero, y[..., 0] * inv / d], -1),
                          torch.stack([zero, inv, y[..., 1] * inv / d], -1)], -2)
        dn = dn / scale[:, None, None, None]
        # depth rows (targets with a third column): centred camera-space z in NDC units, scaled by
        # the face's mean depth kz = 1 / ((distance - mean z) * tan(fov/2))
        depth = target.shape[-1] == 3
        if depth:
            kz = 1.0 / ((cam.distance - y[..., 2].mean(1)).clamp_min(1e-4) * tf)            # (B,)
            rz = rx if self.depth_offsets is None else (x + self.depth_offsets) @ rot.transpose(1, 2)
            z = rz[..., 2] * kz[:, None]
            tz = target[..., 2]
            res = torch.cat([res, ((z - z.mean(1, keepdim=True) - (tz - tz.mean(1, keepdim=True)))
                                   / scale[:, None])[..., None]], -1)                          # (B,N,3)
            dz = torch.zeros_like(dn[..., :1, :])
            dz[..., 0, 2] = (kz[:, None] / scale[:, None]).expand_as(inv)
            dn = torch.cat([dn, dz], -2)                                                       # (B,N,3,3)
        rot_block = dn @ (-_skew(rx))
        jy_rot = rot_block[:, :, 2].clone() if depth else None   # kz/scale * d y_z / d w (no offsets)
        if depth and self.depth_offsets is not None:   # the depth row turns the offset point
            rot_block[:, :, 2] = torch.einsum("bnc,bncd->bnd", dn[:, :, 2], -_skew(rz))
        blocks = [rot_block, dn]                                  # rotation, translation
        if self.config.fit_identity and self.id_basis.shape[0]:
            dy = torch.einsum("brc,kic->bikr", rot, self.id_basis[:, :self.n]) if not self.contour_rows \
                else torch.einsum("brc,kbic->bikr", rot, self.id_basis[:, idx])  # (B,N,K,3)
            blocks.append(torch.einsum("binr,bikr->bink", dn, dy))
        if self.config.fit_expression and self.ex_basis.shape[0]:
            dy = torch.einsum("brc,eic->bier", rot, self.ex_basis[:, :self.n]) if not self.contour_rows \
                else torch.einsum("brc,ebic->bier", rot, self.ex_basis[:, idx])
            blocks.append(torch.einsum("binr,bier->bine", dn, dy))
        jac = torch.cat(blocks, -1)                                 # (B,N,2|3,P)
        if depth:
            # d(kz * zc) = kz * d(zc) + zc * kz^2 * tan * d(mean y_z): the first part is centred over
            # the points like the residual; jy holds kz/scale * d y_z for the second
            jy = jac[:, :, 2].clone()
            jy[..., :3] = jy_rot
            zc = rz[..., 2] - rz[..., 2].mean(1, keepdim=True)
            jac[:, :, 2] = jac[:, :, 2] - jac[:, :, 2].mean(1, keepdim=True) \
                + zc[..., None] * (kz * tf)[:, None, None] * jy.mean(1, keepdim=True)
        b, c = jac.shape[0], jac.shape[2]
        return res.reshape(b, c * self.n), jac.reshape(b, c * self.n, -1)

    # ---- the solver ------------------------------------------------------------------------
    def fit(self, target_ndc: torch.Tensor, init: FaceParams | None = None,
            shared_identity: bool = False, iterations: int | None = None,
            identity: torch.Tensor | None = None) -> FaceParams:
        """Fit to landmarks (B,N,2) of the set in camera NDC; `init` warm-starts (e.g. the previous frame).

        Dense sets also take (B,N,3): the third column is the detector's relative depth in NDC
        units (toward the camera positive; MediaPipe's z), fitted with weight config.depth_weight.

        `identity` (B,K) or (K,) starts (or, with fit_identity=False, fixes) the identity when
        there is no `init`.
        """
        cfg = self.config
        cols = (2, 3) if self.set.dense else (2,)
        if target_ndc.ndim != 3 or target_ndc.shape[1] != self.n or target_ndc.shape[2] not in cols:
            raise MorphableError(f"landmarks must be (B,{self.n},2), got {tuple(target_ndc.shape)}")
        if not torch.isfinite(target_ndc).all():
            raise MorphableError("landmarks contain NaN or inf")
        target = target_ndc.to(torch.float64)
        b, k = target.shape[0], self.id_basis.shape[0]
        e_n = self.ex_basis.shape[0]
        scale = inter_ocular(target[..., :2], self.set.iod).clamp_min(1e-6) * cfg.sigma * self.set.sigma_factor
        if init is None:
            ident = torch.zeros(b, k, dtype=torch.float64) if identity is None else \
                identity.detach().to(torch.float64).reshape(-1, k).expand(b, -1).clone()
            expr = torch.zeros(b, e_n, dtype=torch.float64)
            rot, t = initial_pose(self.model, target[..., :2], self.camera, ident, self.set.vertices, self.set.iod)
            init_full = self.model.neutral_params(b)
        else:
            ident = init.identity.detach().to(torch.float64).clone()
            expr = init.expression.detach().to(torch.float64)[:, self.expr_free].clone()
            rot = euler_to_matrix(*(init.pose[:, i].detach().to(torch.float64) for i in range(3)))
            t = init.pose[:, 3:].detach().to(torch.float64).clone()
            init_full = init
        if shared_identity:
            ident = ident.mean(0, keepdim=True).expand(b, -1).clone()
        n_iter = cfg.iterations if iterations is None else iterations
        fit_id = cfg.fit_identity and k > 0
        fit_ex = cfg.fit_expression and e_n > 0
        # with a shared identity every frame's normal equations carry the prior: count it once
        id_prior = cfg.identity_prior / b if shared_identity else cfg.identity_prior
        for _ in range(n_iter):
            yaw = matrix_to_euler(rot)[0]
            w = self.weights(yaw)
            if target.shape[-1] == 3:
                w = torch.stack([w, w, w * cfg.depth_weight], -1).reshape(b, -1)   # (B,3N)
            else:
                w = w.repeat_interleave(2, dim=1)                    # (B,2N)
            idx = self.marched_indices(rot, t, ident, expr, yaw)
            res, jac = self._linearise(rot, t, ident, expr, target, scale, idx)
            jw = jac * w[..., None]
            hess = jw.transpose(1, 2) @ jac                         # (B,P,P)
            grad = (jw * res[..., None]).sum(1)                     # (B,P)
            p = hess.shape[-1]
            prior = torch.zeros(b, p, dtype=torch.float64)
            o = 6
            if fit_id:
                prior[:, o:o + k] = id_prior
                grad[:, o:o + k] += id_prior * ident
                o += k
            if fit_ex:
                prior[:, o:o + e_n] = cfg.expression_l2
                grad[:, o:o + e_n] += cfg.expression_l2 * expr + cfg.expression_l1
            hess = hess + torch.diag_embed(prior + cfg.damping * (hess.diagonal(dim1=1, dim2=2) + 1e-6))
            if shared_identity and fit_id:
                step = self._solve_shared(hess, grad, k)
            else:
                step = -torch.linalg.solve(hess, grad)
            rot = so3_exp_map(step[:, :3]) @ rot
            t = t + step[:, 3:6]
            o = 6
            if fit_id:
                ident = ident + step[:, o:o + k]
                o += k
            if fit_ex:
                expr = (expr + step[:, o:o + e_n]).clamp(0.0, 1.0)
        yaw, pitch, roll = matrix_to_euler(rot)
        full_expr = torch.zeros(b, 52, dtype=torch.float64)
        full_expr[:, self.expr_free] = expr
        dt = self.model.template.dtype
        pose = torch.cat([torch.stack([yaw, pitch, roll], -1), t], -1)
        return init_full.replace(identity=ident.to(dt), expression=full_expr.to(dt), pose=pose.to(dt))

    @staticmethod
    def _solve_shared(hess: torch.Tensor, grad: torch.Tensor, k: int) -> torch.Tensor:
        """One GN step with the identity block (columns 6..6+k) shared by all rows of the batch."""
        idx_id = torch.arange(6, 6 + k)
        idx_f = torch.cat([torch.arange(6), torch.arange(6 + k, hess.shape[-1])])
        a_ff = hess[:, idx_f][:, :, idx_f]
        a_fk = hess[:, idx_f][:, :, idx_id]
        a_kk = hess[:, idx_id][:, :, idx_id]
        g_f, g_k = grad[:, idx_f], grad[:, idx_id]
        b = hess.shape[0]
        sol_fk = torch.linalg.solve(a_ff, a_fk)                     # (B,F,K)
        sol_gf = torch.linalg.solve(a_ff, g_f[..., None])[..., 0]  # (B,F)
        schur = (a_kk - a_fk.transpose(1, 2) @ sol_fk).sum(0)
        rhs = (g_k - (a_fk.transpose(1, 2) @ sol_gf[..., None])[..., 0]).sum(0)
        d_k = -torch.linalg.solve(schur, rhs)
        d_f = -(sol_gf + sol_fk @ d_k)
        step = torch.empty_like(grad)
        step[:, idx_f] = d_f
        step[:, idx_id] = d_k.expand(b, -1)
        return step

    def project(self, params: FaceParams) -> torch.Tensor:
        """Model landmarks of `params` in camera NDC (B,N,2), jaw contour marched like the fit."""
        dt = torch.float64
        rot = euler_to_matrix(*(params.pose[:, i].detach().to(dt) for i in range(3)))
        t = params.pose[:, 3:].detach().to(dt)
        ident = params.identity.detach().to(dt)
        expr = params.expression.detach().to(dt)[:, self.expr_free]
        idx = self.marched_indices(rot, t, ident, expr, params.yaw.detach().to(dt))
        x = self._landmarks(ident, expr, idx) @ rot.transpose(1, 2) + t[:, None]
        return self.camera.to_ndc(x)
