"""Fine-tuning from an installed checkpoint (``--init-from NAME``): both networks from the parent, a gentler
learning rate, and optional frozen layers.

- The generator comes from the parent's ``generator.<param>`` tensors. The discriminator comes from the parent
  too when it stores one: the file ``NAME.discriminator.safetensors`` beside it (what the CLI export and the
  Train tab's publishing write, in ``checkpoints/`` or ``MEDGAN_HOME/checkpoints``), or ``discriminator.<param>``
  keys in ``NAME.safetensors`` itself (a run folder, earlier published files); otherwise it starts at random and
  the run's card says so, with the parent card's reason (the bundled checkpoints' training runs are not
  available, so they ship no discriminator).
- Learning rates: the Train tab starts fine-tunes at :data:`FINETUNE_LR_SCALE` × the preset's, with a linear
  warm-up over :func:`default_warmup` steps (``--warmup-steps``), so fresh optimiser moments do not throw the
  parent's weights off in the first steps.
- ``--freeze``: parts of the generator that do not train (no gradient, not in the optimiser): ``encoder`` (the
  contracting path of a U-Net-style generator), ``early`` (the first half of its top-level parts), or names of
  its top-level parts.
"""

from __future__ import annotations

import logging

from torch import nn

from medgan import checkpoints
from medgan.inference import find_card
from medgan.models.blocks import unit_spectral_scale

logger = logging.getLogger(__name__)

FINETUNE_LR_SCALE = 0.25
ENCODER_PARTS = ("downs", "enc", "down", "stem")  # the contracting paths of the U-Net-style generators
FREEZE_WORDS = ("encoder", "early")


def default_warmup(steps: int) -> int:
    """Warm-up steps for a fine-tune of ``steps`` steps: a tenth of the run, at most 100."""
    return max(1, min(100, int(steps) // 10))


def _parts(module: nn.Module) -> list[str]:
    """Top-level parts of ``module`` that hold parameters, in order."""
    return [n for n, m in module.named_children() if any(True for _ in m.parameters())]


def freeze_targets(module: nn.Module, what: list[str] | tuple[str, ...]) -> list[str]:
    """The top-level parts of ``module`` that ``what`` names (``encoder``, ``early`` or part names);
    ValueError listing the valid names."""
    parts = _parts(module)
    out: list[str] = []
    for w in what:
        if w == "encoder":
            names = [p for p in parts if p in ENCODER_PARTS]
            if not names:
                raise ValueError(f"--freeze encoder: the {type(module).__name__} generator has no encoder; "
                                 f"freeze 'early' or one of its parts: {', '.join(parts)}")
        elif w == "early":
            names = parts[: max(1, len(parts) // 2)]
        elif w in parts:
            names = [w]
        else:
            raise ValueError(f"--freeze {w!r}: valid: {', '.join(FREEZE_WORDS)}, or a part of the "
                             f"{type(module).__name__} generator: {', '.join(parts)}")
        out += [n for n in names if n not in out]
    return out


def freeze(module: nn.Module, what: list[str] | tuple[str, ...]) -> list[str]:
    """Switch off the gradients of the parts ``what`` names; returns the frozen part names."""
    names = freeze_targets(module, what)
    children = dict(module.named_children())
    for n in names:
        for p in children[n].parameters():
            p.requires_grad_(False)
    return names


def load_parent(name: str, generator: nn.Module, discriminator: nn.Module | None, grow: bool = False
                ) -> dict[str, object]:
    """Load the parent checkpoint ``name`` into ``generator`` (and ``discriminator`` when the parent stores one
    that fits); returns what was loaded, for the start event and the card. With ``grow`` the generator is a
    larger-size version of the parent's (:mod:`medgan.training.progressive`). Spectral-normalised layers leave
    at unit scale (:func:`medgan.models.blocks.unit_spectral_scale`): the same function, a sane step size."""
    info = _load_parent(name, generator, discriminator, grow)
    rescaled = sum(unit_spectral_scale(m) for m in (generator, discriminator) if m is not None)
    if rescaled:
        info["spectral_layers_rescaled"] = rescaled
    return info


def _load_adding(generator: nn.Module, state: dict) -> list[str]:
    """Load the parent's generator ``state``; parts the parent lacks are allowed only where the generator's class
    says they can be added (``ADDABLE``, e.g. the U-Net's ``refine`` head), and keep their initialisation, which
    leaves the parent's output unchanged. Returns those parts' names."""
    target = generator.state_dict()
    addable = set(getattr(generator, "ADDABLE", ()))
    missing = {k.split(".")[0] for k in target if k not in state}
    if not missing or not missing <= addable:
        checkpoints.load_into(generator, state)  # strict: its error names what does not fit
        return []
    checkpoints.load_into(generator, {**state, **{k: v for k, v in target.items() if k not in state}})
    return sorted(missing)


def _load_parent(name: str, generator: nn.Module, discriminator: nn.Module | None, grow: bool) -> dict[str, object]:
    card = find_card(name)
    tensors = checkpoints.load_weights(card.weights_path)
    info: dict[str, object] = {"init_from": name, "generator": "from the parent"}
    if grow:
        from medgan.training.progressive import load_grown

        growth = load_grown(generator, checkpoints.split_prefix(tensors, "generator"))
        info["generator"] = f"grown from the parent ({len(growth.loaded)} tensors loaded, {len(growth.added)} new)"
        info["grown"] = {"loaded_tensors": len(growth.loaded), "added_tensors": len(growth.added)}
    else:
        added = _load_adding(generator, checkpoints.split_prefix(tensors, "generator"))
        if added:
            info["generator"] = (f"from the parent, with new parts ({', '.join(added)}) that start by "
                                 "returning the parent's output")
            info["added_parts"] = added
    if discriminator is None:
        return info
    state, source = checkpoints.stored_discriminator(card.weights_path, tensors)
    if not state:
        note = (card.discriminator or {}).get("note")
        info["discriminator"] = "random: the parent checkpoint stores no discriminator" + (f" ({note})" if note else "")
    else:
        try:
            checkpoints.load_into(discriminator, state)
            info["discriminator"] = f"from the parent ({source})"
        except (RuntimeError, KeyError) as exc:
            first = str(exc).strip().splitlines()[0][:160]
            info["discriminator"] = f"random: the parent's discriminator does not fit this run ({first})"
    logger.info("initialised from %s: discriminator %s", name, info["discriminator"])
    return info
