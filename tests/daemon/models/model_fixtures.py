"""Writers for test model files in every format dragd reads, built without NVIDIA's or rosinality's code.

NVIDIA pickles: NVIDIA's `torch_utils.persistence` pickles each network as a call of
`torch_utils.persistence._reconstruct_persistent_obj(meta)`. Here small stand-in objects reduce to a
local function registered under that module and name in `sys.modules` only while writing, so the
pickle names exactly the globals of a real file; tensors, OrderedDicts, numpy scalars and
`dnnlib.util.EasyDict` (likewise a registered stand-in) pickle as they do in NVIDIA's files.

rosinality checkpoints: the generator's weights under rosinality's names, mapped here by hand
(independently of `dragd.daemon.models.rosinality`), plus a reference forward pass written from
rosinality's model.py so the layout itself is checked against the generator's outputs.
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import io
import math
import pickle
import pickletools
import sys
import types
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from dragd.daemon.models.stylegan2 import Generator, GeneratorConfig
from dragd.daemon.models.stylegan2_ops import upfirdn2d

TINY = GeneratorConfig(img_resolution=16, z_dim=32, w_dim=32, mapping_layers=2, channel_base=256, channel_max=32)
# rosinality's generator has no activation clamp.
TINY_UNCLAMPED = GeneratorConfig(img_resolution=16, z_dim=32, w_dim=32, mapping_layers=2, channel_base=256,
                                 channel_max=32, conv_clamp=None)

# The globals of a real NVIDIA snapshot pickle (/work/shared/notes/formats.md), as numpy 2 writes them.
NVIDIA_GLOBALS = {
    "torch_utils.persistence._reconstruct_persistent_obj",
    "collections.OrderedDict",
    "torch._utils._rebuild_parameter",
    "torch._utils._rebuild_tensor_v2",
    "torch.storage._load_from_bytes",
    "numpy._core.multiarray.scalar",
    "numpy.dtype",
    "dnnlib.util.EasyDict",
}


def random_generator(config: GeneratorConfig = TINY, seed: int = 0) -> Generator:
    """A generator whose every weight, bias, noise strength and w_avg is random (none left at its init)."""
    generator = Generator(config)
    rng = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, tensor in generator.state_dict().items():
            if name.endswith("resample_filter"):
                continue
            scale = 0.1 if name.endswith(("noise_strength", "bias")) else 1.0
            tensor.copy_(torch.randn(tensor.shape, generator=rng) * scale)
    return generator.eval().requires_grad_(False)


def outputs(generator: Generator, seed: int = 0, psi: float = 0.7) -> torch.Tensor:
    """The image for `seed` at truncation `psi`, plus a second batch item from other z, const noise."""
    z = torch.from_numpy(np.random.RandomState(seed).randn(2, generator.cfg.z_dim)).float()
    with torch.no_grad():
        return generator(z, truncation_psi=psi, noise_mode="const")


# --- NVIDIA pickles -------------------------------------------------------------------------------

# Would leave a file behind if anything ever executed a pickle's module source.
MODULE_SRC_SENTINEL = "module_src_was_executed"
MODULE_SRC = f"import pathlib\npathlib.Path({MODULE_SRC_SENTINEL!r}).touch()\nclass Generator: pass\n"


def _reconstruct_persistent_obj(meta: dict[str, Any]) -> Any:  # registered as NVIDIA's while writing
    raise AssertionError("only ever pickled by reference, never called")


class EasyDict(dict):
    """Pickles as `dnnlib.util.EasyDict` while registered."""


@contextlib.contextmanager
def pickled_as(globals_by_name: dict[str, Any]) -> Iterator[None]:
    """While active, each object pickles by reference as the global its key names ("dnnlib.util.EasyDict"):
    stand-in modules take that module path (and its parents) in sys.modules, so pickle writes that name."""
    fakes: dict[str, types.ModuleType] = {}
    for dotted in globals_by_name:
        parts = dotted.split(".")[:-1]
        for i in range(1, len(parts) + 1):
            fakes.setdefault(".".join(parts[:i]), types.ModuleType(".".join(parts[:i])))
    clashes = [name for name in fakes if name in sys.modules]
    assert not clashes, f"real modules named {clashes} are loaded; the fixture would pickle those"
    originals = {dotted: (obj.__module__, obj.__qualname__) for dotted, obj in globals_by_name.items()}
    sys.modules.update(fakes)
    for dotted, obj in globals_by_name.items():
        module, _, name = dotted.rpartition(".")
        obj.__module__, obj.__qualname__ = module, name
        setattr(fakes[module], name, obj)
    try:
        yield
    finally:
        for dotted, obj in globals_by_name.items():
            obj.__module__, obj.__qualname__ = originals[dotted]
        for name in fakes:
            del sys.modules[name]


def nvidia_names() -> contextlib.AbstractContextManager[None]:
    """Registers the stand-ins under NVIDIA's module names so that pickle writes those names."""
    return pickled_as({"torch_utils.persistence._reconstruct_persistent_obj": _reconstruct_persistent_obj,
                       "dnnlib.util.EasyDict": EasyDict})


class PersistentNet:
    """Pickles as NVIDIA's persistent network object: `_reconstruct_persistent_obj(meta)`."""

    def __init__(self, class_name: str, state: dict[str, Any]) -> None:
        self.meta = dict(type="class", version=6, module_src=MODULE_SRC, class_name=class_name, state=state)

    def __reduce__(self) -> tuple[Any, ...]:
        return _reconstruct_persistent_obj, (self.meta,)


def module_state(module: torch.nn.Module, children: dict[str, Any], kwargs: dict[str, Any],
                 extra: dict[str, Any] | None = None) -> dict[str, Any]:
    """A torch.nn.Module `__dict__` as NVIDIA's pickles hold it (hooks, sets, init kwargs, attributes)."""
    hooks = ("_backward_pre_hooks", "_backward_hooks", "_forward_hooks", "_forward_hooks_with_kwargs",
             "_forward_hooks_always_called", "_forward_pre_hooks", "_forward_pre_hooks_with_kwargs",
             "_state_dict_hooks", "_state_dict_pre_hooks", "_load_state_dict_pre_hooks",
             "_load_state_dict_post_hooks")
    state: dict[str, Any] = {"training": False}
    state["_parameters"] = collections.OrderedDict(
        (k, torch.nn.Parameter(v.detach().clone(), requires_grad=False)) for k, v in module._parameters.items())
    state["_buffers"] = collections.OrderedDict(  # a None buffer stays None (StyleGAN3's identity filters)
        (k, None if v is None else v.detach().clone()) for k, v in module._buffers.items())
    state["_non_persistent_buffers_set"] = set()
    state.update({h: collections.OrderedDict() for h in hooks})
    state["_is_full_backward_hook"] = None
    state["_modules"] = collections.OrderedDict(children)
    state["_init_args"] = ()
    state["_init_kwargs"] = kwargs
    state.update(extra or {})
    return state


def _persistent_tree(module: torch.nn.Module, class_name: str, kwargs: dict[str, Any],
                     nested_extra: dict[str, Any] | None, path: str = "") -> PersistentNet:
    children = {}
    for name, child in module.named_children():
        child_class = {"mapping": "MappingNetwork", "synthesis": "SynthesisNetwork", "affine": "FullyConnectedLayer",
                       "torgb": "ToRGBLayer"}.get(name, "SynthesisBlock" if name.startswith("b") else
                                                   "FullyConnectedLayer" if name.startswith("fc") else "SynthesisLayer")
        children[name] = _persistent_tree(child, child_class, {"resolution": 0}, nested_extra, f"{path}{name}.")
    # Attributes NVIDIA's layers keep in __dict__: numpy float64 gains, strings, ints, lists.
    extra: dict[str, Any] = {"weight_gain": np.float64(1 / math.sqrt(3)), "activation": "lrelu",
                             "act_gain": np.float64(math.sqrt(2)), "block_resolutions": [4, 8, 16], "up": 1}
    if nested_extra and path in nested_extra:
        extra.update(nested_extra[path])
    return PersistentNet(class_name, module_state(module, children, kwargs, extra))


def nvidia_generator_tree(generator: Generator, kwargs_style: str = "stylegan3") -> PersistentNet:
    """G_ema as NVIDIA's persistence pickles it (call inside `nvidia_names()`), e.g. for PTI's torch.save."""
    return _persistent_tree(generator, "Generator", generator_kwargs(generator.cfg, kwargs_style), None)


def generator_kwargs(config: GeneratorConfig, style: str = "stylegan3") -> dict[str, Any]:
    """NVIDIA's Generator init kwargs: flat (stylegan3 repo) or with synthesis_kwargs (stylegan2-ada)."""
    synthesis = {"channel_base": config.channel_base, "channel_max": config.channel_max,
                 "num_fp16_res": 4, "conv_clamp": config.conv_clamp}
    kwargs: dict[str, Any] = {"z_dim": config.z_dim, "c_dim": 0, "w_dim": config.w_dim,
                              "img_resolution": config.img_resolution, "img_channels": config.img_channels,
                              "mapping_kwargs": EasyDict(num_layers=config.mapping_layers)}
    if style == "ada":
        kwargs["synthesis_kwargs"] = EasyDict(synthesis)
    else:
        kwargs.update(synthesis, fused_modconv_default="inference_only")
    return kwargs


def nvidia_pickle_bytes(generator: Generator, *, only_g_ema: bool = False, kwargs_style: str = "stylegan3",
                        kwargs_override: dict[str, Any] | None = None, protocol: int = 4,
                        numpy_module: str = "numpy._core.multiarray", channels_last: bool = True,
                        nested_extra: dict[str, Any] | None = None, extra_params: dict[str, Any] | None = None,
                        top_level_extra: dict[str, Any] | None = None, drop_kwargs: tuple[str, ...] = ()) -> bytes:
    """An NVIDIA-style snapshot pickle of `generator` (as G and G_ema) with a tiny stand-in D.

    `nested_extra` adds attributes to the state of the submodule at a path like "synthesis.b8.conv0.";
    `extra_params` adds parameters to G_ema itself; `numpy_module` picks the numpy 1 or 2 global name
    (the older one needs protocol < 4, where globals are plain text that can be renamed in place).
    """
    source = generator
    if channels_last:  # NVIDIA's fp16 blocks may store conv weights channels-last (non-contiguous strides)
        source = Generator(generator.cfg)
        source.load_state_dict(generator.state_dict())
        conv = source.synthesis.block(source.synthesis.num_blocks - 1).conv1
        conv.weight = torch.nn.Parameter(conv.weight.detach().to(memory_format=torch.channels_last))
        assert not conv.weight.is_contiguous()
    with nvidia_names():
        kwargs = generator_kwargs(generator.cfg, kwargs_style)
        kwargs.update(kwargs_override or {})
        for name in drop_kwargs:  # as if the training config never set them (flat or nested)
            kwargs.pop(name, None)
            kwargs.get("synthesis_kwargs", {}).pop(name, None)
        g_ema = _persistent_tree(source, "Generator", kwargs, nested_extra)
        g_ema.meta["state"]["_parameters"].update(extra_params or {})
        d_layer = torch.nn.Linear(3, 1)
        disc = PersistentNet("Discriminator", module_state(d_layer, {}, {"c_dim": 0, "img_resolution": 16}))
        data: dict[str, Any] = {"G_ema": g_ema} if only_g_ema else {
            "G": _persistent_tree(source, "Generator", kwargs, None), "D": disc, "G_ema": g_ema,
            "augment_pipe": None, "training_set_kwargs": None}
        data.update(top_level_extra or {})
        raw = pickle.dumps(data, protocol=protocol)
    if numpy_module != "numpy._core.multiarray":
        assert protocol < 4
        raw = raw.replace(b"cnumpy._core.multiarray\nscalar\n", f"c{numpy_module}\nscalar\n".encode())
    return raw


def write_nvidia_pickle(path: Path, generator: Generator, **options: Any) -> Path:
    path.write_bytes(nvidia_pickle_bytes(generator, **options))
    return path


def pickle_globals(raw: bytes) -> set[str]:
    """Every `module.name` a pickle asks its unpickler to resolve (GLOBAL and STACK_GLOBAL opcodes)."""
    found, strings, memo = set(), [], {}
    for opcode, arg, _ in pickletools.genops(raw):
        name = opcode.name
        if name == "GLOBAL":
            found.add(arg.replace(" ", "."))
        elif name == "STACK_GLOBAL":
            found.add(f"{strings[-2]}.{strings[-1]}")
        elif name in ("SHORT_BINUNICODE", "BINUNICODE", "BINUNICODE8", "UNICODE"):
            strings.append(arg)
        elif name == "MEMOIZE":
            memo[len(memo)] = strings[-1] if strings else None
        elif name in ("BINPUT", "LONG_BINPUT", "PUT"):
            memo[arg] = strings[-1] if strings else None
        elif name in ("BINGET", "LONG_BINGET", "GET"):
            strings.append(memo.get(arg))
        elif name not in ("FRAME", "PROTO"):
            strings.append(None)  # anything else breaks a run of two strings
    return found


# --- rosinality checkpoints -----------------------------------------------------------------------


def rosinality_layout(generator: Generator) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
    """`g_ema` state dict and `latent_avg` as rosinality's Generator(size, style_dim, n_mlp) names them."""
    sd = {k: v.detach().clone() for k, v in generator.state_dict().items()}
    cfg = generator.cfg
    ros: dict[str, torch.Tensor] = {}
    for i in range(cfg.mapping_layers):
        ros[f"style.{i + 1}.weight"] = sd[f"mapping.fc{i}.weight"]
        ros[f"style.{i + 1}.bias"] = sd[f"mapping.fc{i}.bias"]
    ros["input.input"] = sd["synthesis.b4.const"][None]

    def styled(ros_name: str, nv: str, noise_index: int) -> None:
        ros[f"{ros_name}.conv.weight"] = sd[f"{nv}.weight"][None]
        ros[f"{ros_name}.conv.modulation.weight"] = sd[f"{nv}.affine.weight"]
        ros[f"{ros_name}.conv.modulation.bias"] = sd[f"{nv}.affine.bias"]
        ros[f"{ros_name}.noise.weight"] = sd[f"{nv}.noise_strength"].reshape(1)
        ros[f"{ros_name}.activate.bias"] = sd[f"{nv}.bias"]
        ros[f"noises.noise_{noise_index}"] = sd[f"{nv}.noise_const"][None, None]

    def to_rgb(ros_name: str, nv: str, upsample: bool) -> None:
        ros[f"{ros_name}.conv.weight"] = sd[f"{nv}.weight"][None]
        ros[f"{ros_name}.conv.modulation.weight"] = sd[f"{nv}.affine.weight"]
        ros[f"{ros_name}.conv.modulation.bias"] = sd[f"{nv}.affine.bias"]
        ros[f"{ros_name}.bias"] = sd[f"{nv}.bias"].reshape(1, -1, 1, 1)
        if upsample:
            ros[f"{ros_name}.upsample.kernel"] = _blur_kernel() * 4

    styled("conv1", "synthesis.b4.conv1", 0)
    to_rgb("to_rgb1", "synthesis.b4.torgb", upsample=False)
    for k, res in enumerate(cfg.block_resolutions[1:]):
        styled(f"convs.{2 * k}", f"synthesis.b{res}.conv0", 2 * k + 1)
        ros[f"convs.{2 * k}.conv.blur.kernel"] = _blur_kernel() * 4
        styled(f"convs.{2 * k + 1}", f"synthesis.b{res}.conv1", 2 * k + 2)
        to_rgb(f"to_rgbs.{k}", f"synthesis.b{res}.torgb", upsample=True)
    return ros, sd["mapping.w_avg"]


def _blur_kernel() -> torch.Tensor:
    k = torch.tensor([1.0, 3.0, 3.0, 1.0])
    k = k[None, :] * k[:, None]
    return k / k.sum()


def write_rosinality(path: Path, generator: Generator, *, latent_avg: bool = True, training: bool = False) -> Path:
    """A `.pt` like convert_weight.py writes (g_ema, latent_avg) or, with `training`, like train.py."""
    ros, w_avg = rosinality_layout(generator)
    if training:  # train.py: g, d, g_ema, optimiser states, the argparse args, ada_aug_p
        data: dict[str, Any] = {"g": ros, "d": {"convs.0.0.weight": torch.randn(4, 3, 1, 1)}, "g_ema": ros,
                                "g_optim": {"state": {}, "param_groups": [{"lr": 0.002, "params": [0]}]},
                                "args": argparse.Namespace(size=16, latent=32, n_mlp=2, channel_multiplier=2),
                                "ada_aug_p": 0.0}
    else:
        data = {"g_ema": ros}
    if latent_avg:
        data["latent_avg"] = w_avg
    torch.save(data, path)
    return path


def rosinality_reference_forward(ros: dict[str, torch.Tensor], latent_avg: torch.Tensor, z: torch.Tensor,
                                 truncation: float, lr_mlp: float = 0.01) -> torch.Tensor:
    """rosinality's Generator.forward (randomize_noise=False, one style), re-derived from its model.py."""
    sqrt2 = math.sqrt(2)
    x = z * torch.rsqrt(z.square().mean(dim=1, keepdim=True) + 1e-8)  # PixelNorm
    i = 1
    while f"style.{i}.weight" in ros:  # EqualLinear + fused leaky ReLU
        w, b = ros[f"style.{i}.weight"], ros[f"style.{i}.bias"]
        x = F.leaky_relu(F.linear(x, w * (lr_mlp / math.sqrt(w.shape[1]))) + b * lr_mlp, 0.2) * sqrt2
        i += 1
    style = latent_avg + truncation * (x - latent_avg)
    batch = z.shape[0]

    def modconv(h: torch.Tensor, name: str, s: torch.Tensor, demodulate: bool, up: bool) -> torch.Tensor:
        weight = ros[f"{name}.weight"]  # [1, out, in, k, k]
        _, out_ch, in_ch, k, _ = weight.shape
        mw = ros[f"{name}.modulation.weight"]
        s = F.linear(s, mw / math.sqrt(mw.shape[1]), ros[f"{name}.modulation.bias"])
        wts = weight / math.sqrt(in_ch * k * k) * s.view(batch, 1, in_ch, 1, 1)
        if demodulate:
            wts = wts * torch.rsqrt(wts.pow(2).sum([2, 3, 4]) + 1e-8).view(batch, out_ch, 1, 1, 1)
        h = h.reshape(1, batch * in_ch, *h.shape[2:])
        if up:
            wts = wts.transpose(1, 2).reshape(batch * in_ch, out_ch, k, k)
            h = F.conv_transpose2d(h, wts, stride=2, groups=batch)
            h = h.view(batch, out_ch, *h.shape[2:])
            return upfirdn2d(h, ros[f"{name}.blur.kernel"], pad=(1, 1, 1, 1))  # Blur pad (1, 1)
        h = F.conv2d(h, wts.reshape(batch * out_ch, in_ch, k, k), padding=k // 2, groups=batch)
        return h.view(batch, out_ch, *h.shape[2:])

    def styled_conv(h: torch.Tensor, name: str, s: torch.Tensor, noise: int, up: bool = False) -> torch.Tensor:
        h = modconv(h, f"{name}.conv", s, True, up)
        h = h + ros[f"{name}.noise.weight"] * ros[f"noises.noise_{noise}"]
        return F.leaky_relu(h + ros[f"{name}.activate.bias"].view(1, -1, 1, 1), 0.2) * sqrt2

    def to_rgb(h: torch.Tensor, name: str, s: torch.Tensor, skip: torch.Tensor | None) -> torch.Tensor:
        out = modconv(h, f"{name}.conv", s, False, False) + ros[f"{name}.bias"]
        if skip is not None:  # Upsample: pad (2, 1), kernel already scaled by factor ** 2
            out = out + upfirdn2d(skip, ros[f"{name}.upsample.kernel"], up=2, pad=(2, 1, 2, 1))
        return out

    h = ros["input.input"].repeat(batch, 1, 1, 1)
    h = styled_conv(h, "conv1", style, 0)
    skip = to_rgb(h, "to_rgb1", style, None)
    k = 0
    while f"to_rgbs.{k}.conv.weight" in ros:
        h = styled_conv(h, f"convs.{2 * k}", style, 2 * k + 1, up=True)
        h = styled_conv(h, f"convs.{2 * k + 1}", style, 2 * k + 2)
        skip = to_rgb(h, f"to_rgbs.{k}", style, skip)
        k += 1
    return skip


def torch_save_bytes(obj: Any) -> bytes:
    """`obj` as torch.save's legacy (non-zip) format writes it: what a pickled storage holds."""
    buffer = io.BytesIO()
    torch.save(obj, buffer, _use_new_zipfile_serialization=False)
    return buffer.getvalue()
