"""Architectures: every advertised size builds, shapes and ranges hold, configs validate."""

from __future__ import annotations

import json

import pytest
import torch
from torch import nn

from models.architectures import (
    ARCHITECTURES,
    CONDITIONAL_ARCHITECTURES,
    DCGANConfig,
    MLPGANConfig,
    build_discriminator,
    build_generator,
    dcgan_image_sizes,
    image_sizes,
    info_code,
    make_model_config,
    mlp_image_sizes,
    model_config_from_dict,
    model_config_to_dict,
)
from models.inference import latents_for_seeds

TINY_MLP = {"latent_dim": 8, "g_hidden": (8, 8), "d_hidden": (8, 8)}
TINY_DCGAN = {"latent_dim": 8, "g_width": 4, "d_width": 4}


def tiny_config(architecture: str, **overrides: object) -> MLPGANConfig | DCGANConfig:
    fields = dict(TINY_MLP if architecture in ("gan", "cgan") else TINY_DCGAN)
    if architecture in CONDITIONAL_ARCHITECTURES:
        fields["num_classes"] = 3
    fields.update(overrides)
    return make_model_config(architecture, **fields)


def labels_for(cfg: MLPGANConfig | DCGANConfig, n: int) -> torch.Tensor | None:
    return torch.arange(n) % cfg.num_classes if cfg.conditional else None


def check_pair(cfg: MLPGANConfig | DCGANConfig) -> None:
    netG, netD = build_generator(cfg), build_discriminator(cfg)
    n = 2  # BatchNorm in training mode needs more than one sample
    labels = labels_for(cfg, n)
    z = torch.randn(n, cfg.latent_dim, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        # Blow up the output layer's weights: only a final Tanh keeps the images in [-1, 1].
        output_layer = [m for m in netG.modules() if isinstance(m, nn.Linear | nn.ConvTranspose2d)]
        output_layer[-1].weight.mul_(1000)
        images = netG(z, labels)
        logits = netD(images, labels)
    assert images.shape == (n, cfg.channels, cfg.image_size, cfg.image_size)
    assert images.abs().max() <= 1.0
    assert images.abs().max() > 0.5
    assert logits.shape == (n,)
    assert torch.isfinite(logits).all()


def test_advertised_sizes() -> None:
    assert dcgan_image_sizes() == [8, 14, 16, 28, 32, 56, 64, 112, 128, 224, 256]
    assert mlp_image_sizes() == list(range(4, 129))
    assert image_sizes("cdcgan") == dcgan_image_sizes()
    assert image_sizes("gan") == mlp_image_sizes()
    with pytest.raises(ValueError, match="unknown architecture 'vae'"):
        image_sizes("vae")


@pytest.mark.parametrize("channels", [1, 3])
@pytest.mark.parametrize("architecture", ["gan", "cgan"])
def test_mlp_builds_at_every_size(architecture: str, channels: int) -> None:
    for size in mlp_image_sizes():
        check_pair(tiny_config(architecture, image_size=size, channels=channels))


@pytest.mark.parametrize("channels", [1, 3])
@pytest.mark.parametrize("size", dcgan_image_sizes())
@pytest.mark.parametrize("architecture", ["dcgan", "cdcgan"])
def test_dcgan_builds_at_every_size(architecture: str, size: int, channels: int) -> None:
    check_pair(tiny_config(architecture, image_size=size, channels=channels))


def test_mlp_layer_plan_matches_reference() -> None:
    cfg = make_model_config("gan")  # defaults: 28x28x1, latent 100
    netG, netD = build_generator(cfg), build_discriminator(cfg)
    g_linear = [m for m in netG.modules() if isinstance(m, nn.Linear)]
    assert [m.in_features for m in g_linear] == [100, 128, 256, 512, 1024]
    assert [m.out_features for m in g_linear] == [128, 256, 512, 1024, 28 * 28]
    g_norms = [m for m in netG.modules() if isinstance(m, nn.BatchNorm1d)]
    assert [m.num_features for m in g_norms] == [256, 512, 1024]  # none on the first layer
    assert all(m.eps == 1e-5 for m in g_norms)  # not the reference's accidental eps=0.8
    assert isinstance(list(netG.modules())[-1], nn.Tanh)
    slopes = {m.negative_slope for m in netG.modules() if isinstance(m, nn.LeakyReLU)}
    assert slopes == {0.2}
    d_linear = [m for m in netD.modules() if isinstance(m, nn.Linear)]
    assert [m.out_features for m in d_linear] == [512, 256, 1]
    assert not any(isinstance(m, nn.BatchNorm1d | nn.LayerNorm) for m in netD.modules())
    assert not any(isinstance(m, nn.Sigmoid) for m in netD.modules())


def test_dcgan_64_matches_pytorch_example_channels() -> None:
    cfg = make_model_config("dcgan", g_width=8, d_width=8)  # 64x64x3
    netG, netD = build_generator(cfg), build_discriminator(cfg)
    g_convs = [m for m in netG.modules() if isinstance(m, nn.ConvTranspose2d)]
    assert [m.out_channels for m in g_convs] == [64, 32, 16, 8, 3]
    assert [m.stride for m in g_convs] == [(1, 1)] + [(2, 2)] * 4
    d_convs = [m for m in netD.modules() if isinstance(m, nn.Conv2d)]
    assert [m.out_channels for m in d_convs] == [8, 16, 32, 64, 1]
    assert [m.stride for m in d_convs] == [(2, 2)] * 4 + [(1, 1)]
    # BatchNorm in D on every layer but the first; bias only where no norm follows.
    assert sum(isinstance(m, nn.BatchNorm2d) for m in netD.modules()) == 3
    assert [m.bias is not None for m in d_convs] == [True, False, False, False, True]
    assert sum(isinstance(m, nn.BatchNorm2d) for m in netG.modules()) == 4


def test_dcgan_channel_multiplier_is_capped_at_8() -> None:
    cfg = make_model_config("dcgan", image_size=256, g_width=2, d_width=2, latent_dim=4)
    netG, netD = build_generator(cfg), build_discriminator(cfg)
    g_channels = [m.out_channels for m in netG.modules() if isinstance(m, nn.ConvTranspose2d)]
    d_channels = [m.out_channels for m in netD.modules() if isinstance(m, nn.Conv2d)]
    assert g_channels == [16, 16, 16, 8, 4, 2, 3]
    assert d_channels == [2, 4, 8, 16, 16, 16, 1]


@pytest.mark.parametrize("architecture", ["dcgan", "cdcgan"])
def test_dcgan_has_no_pooling_and_no_hidden_linear(architecture: str) -> None:
    cfg = tiny_config(architecture, image_size=32)
    netG, netD = build_generator(cfg), build_discriminator(cfg)
    for net in (netG, netD):
        assert not any("Pool" in type(m).__name__ for m in net.modules())
    assert not any(isinstance(m, nn.Linear) for m in netG.modules())
    d_linears = [name for name, m in netD.named_modules() if isinstance(m, nn.Linear)]
    # The conditional D's label projection is the only Linear layer, and not a hidden one.
    assert d_linears == (["label_projection"] if cfg.conditional else [])


def test_dcgan_weight_init_std() -> None:
    cfg = make_model_config("dcgan", image_size=32, g_width=32, d_width=32)
    for net in (build_generator(cfg), build_discriminator(cfg)):
        for m in net.modules():
            if isinstance(m, nn.Conv2d | nn.ConvTranspose2d) and m.weight.numel() >= 4096:
                assert abs(m.weight.std().item() - 0.02) < 0.002
                assert abs(m.weight.mean().item()) < 0.002
            if isinstance(m, nn.Conv2d | nn.ConvTranspose2d) and m.bias is not None:
                assert torch.all(m.bias == 0)
            if isinstance(m, nn.BatchNorm2d):
                assert abs(m.weight.mean().item() - 1.0) < 0.01
                assert 0.005 < m.weight.std().item() < 0.05
                assert torch.all(m.bias == 0)


@pytest.mark.parametrize("architecture", ["gan", "dcgan"])
@pytest.mark.parametrize("d_norm", ["batch", "layer", "none"])
def test_d_norm_and_batch_independence(architecture: str, d_norm: str) -> None:
    cfg = tiny_config(architecture, image_size=16, channels=1, d_norm=d_norm)
    netD = build_discriminator(cfg)  # training mode: BatchNorm uses batch statistics
    kinds = {type(m) for m in netD.modules()}
    assert (nn.BatchNorm1d in kinds or nn.BatchNorm2d in kinds) == (d_norm == "batch")
    assert (nn.LayerNorm in kinds or nn.GroupNorm in kinds) == (d_norm == "layer")
    # Two hidden stages in both tiny Ds; the first, on raw pixels, is never normalised.
    norms = (nn.BatchNorm1d, nn.BatchNorm2d, nn.LayerNorm, nn.GroupNorm)
    assert sum(isinstance(m, norms) for m in netD.modules()) == (0 if d_norm == "none" else 1)
    x = torch.randn(4, 1, 16, 16, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        with_others = netD(x)[:2]
        with_different_others = netD(torch.cat([x[:2], 5 * x[2:]]))[:2]
    # Per-sample norms keep each logit a function of its own image, as WGAN-GP requires.
    independent = torch.allclose(with_others, with_different_others, atol=1e-5)
    assert independent == (d_norm != "batch")


@pytest.mark.parametrize("architecture", CONDITIONAL_ARCHITECTURES)
def test_conditional_models_require_valid_labels(architecture: str) -> None:
    cfg = tiny_config(architecture, image_size=8)
    netG, netD = build_generator(cfg).eval(), build_discriminator(cfg).eval()
    z, x = torch.randn(2, cfg.latent_dim), torch.randn(2, cfg.channels, 8, 8)
    for net, inputs in ((netG, z), (netD, x)):
        with pytest.raises(ValueError, match="needs labels"):
            net(inputs)
        with pytest.raises(ValueError, match=r"0\.\.2"):
            net(inputs, torch.tensor([0, 3]))
        with pytest.raises(ValueError, match=r"0\.\.2"):
            net(inputs, torch.tensor([-1, 0]))
        with pytest.raises(ValueError, match="integer"):
            net(inputs, torch.tensor([0.0, 1.0]))
        with pytest.raises(ValueError, match=r"shape \(2,\)"):
            net(inputs, torch.tensor([0, 1, 2]))
    # The label really conditions both networks.
    with torch.no_grad():
        same_z = z[:1].expand(3, -1)
        images = netG(same_z, torch.tensor([0, 1, 2]))
        assert not torch.allclose(images[0], images[1])
        same_x = x[:1].expand(3, -1, -1, -1)
        logits = netD(same_x, torch.tensor([0, 1, 2]))
        assert not torch.allclose(logits[0], logits[1])


@pytest.mark.parametrize("architecture", ["gan", "dcgan"])
def test_unconditional_models_refuse_labels_and_bad_shapes(architecture: str) -> None:
    cfg = tiny_config(architecture, image_size=8)
    netG, netD = build_generator(cfg).eval(), build_discriminator(cfg).eval()
    with pytest.raises(ValueError, match="takes no labels"):
        netG(torch.randn(2, cfg.latent_dim), torch.tensor([0, 1]))
    with pytest.raises(ValueError, match="takes no labels"):
        netD(torch.randn(2, cfg.channels, 8, 8), torch.tensor([0, 1]))
    with pytest.raises(ValueError, match=r"z must have shape \(N, 8\)"):
        netG(torch.randn(2, 9))
    with pytest.raises(ValueError, match=rf"images must have shape \(N, {cfg.channels}, 8, 8\)"):
        netD(torch.randn(2, cfg.channels, 16, 16))


@pytest.mark.parametrize(
    ("architecture", "fields", "message"),
    [
        ("vae", {}, "unknown architecture 'vae'; expected one of gan, cgan, dcgan, cdcgan"),
        ("dcgan", {"ngf": 64}, "unknown field 'ngf'"),
        ("gan", {"g_width": 64}, "unknown field 'g_width'"),
        ("dcgan", {"image_size": 48}, "image_size 48 .*buildable sizes: 8, 14, 16, 28"),
        ("dcgan", {"image_size": 4}, "image_size 4 .*buildable sizes"),
        ("dcgan", {"image_size": 512}, "image_size 512 .*buildable sizes"),
        ("gan", {"image_size": 3}, r"image_size 3 .*buildable sizes: 4\.\.128"),
        ("cgan", {"image_size": 129, "num_classes": 10}, r"buildable sizes: 4\.\.128"),
        ("gan", {"channels": 2}, "channels must be 1 or 3"),
        ("dcgan", {"channels": 4}, "channels must be 1 or 3, got 4"),
        ("dcgan", {"channels": True}, "channels must be an integer"),
        ("gan", {"latent_dim": 0}, "latent_dim must be between 1 and 4096"),
        ("dcgan", {"latent_dim": 4097}, "latent_dim must be between 1 and 4096"),
        ("cgan", {"num_classes": 1}, "num_classes >= 2"),
        ("cdcgan", {}, "num_classes >= 2"),
        ("gan", {"num_classes": 10}, "num_classes == 0"),
        ("dcgan", {"d_norm": "instance"}, "d_norm must be one of batch, layer, none"),
        ("gan", {"g_hidden": ()}, "g_hidden"),
        ("gan", {"d_hidden": (512, 0)}, "d_hidden entry"),
        ("dcgan", {"g_width": 0}, "g_width"),
        ("dcgan", {"image_size": "64"}, "image_size must be an integer"),
        ("dcgan", {"d_pack": 0}, "d_pack must be between 1 and 16"),
        ("dcgan", {"info_codes": 1}, "info_codes must be between 2 and 100"),
        ("dcgan", {"latent_dim": 8, "info_codes": 9}, "info_codes must be between 2 and 8"),
        ("dcgan", {"info_codes": 2.0}, "info_codes must be an integer"),
        ("cdcgan", {"num_classes": 10, "info_codes": 10}, "info_codes needs architecture dcgan"),
        ("dcgan", {"self_conditioned": True}, "self_conditioned needs info_codes"),
        ("dcgan", {"info_codes": 4, "self_conditioned": 1}, "self_conditioned must be true or false"),
        (
            "cdcgan",
            {"num_classes": 3, "d_conditioning": "concat"},
            "d_conditioning must be one of map, projection",
        ),
        (
            "cdcgan",
            {"num_classes": 3, "d_conditioning": "projection", "d_pack": 2},
            "d_conditioning 'projection' needs d_pack 1",
        ),
    ],
)
def test_invalid_configs_name_the_problem(architecture: str, fields: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        make_model_config(architecture, **fields)


def test_config_class_refuses_a_foreign_architecture() -> None:
    with pytest.raises(ValueError, match="does not belong to MLPGANConfig"):
        MLPGANConfig(architecture="dcgan")
    with pytest.raises(ValueError, match="does not belong to DCGANConfig"):
        DCGANConfig(architecture="gan")


@pytest.mark.parametrize("architecture", ARCHITECTURES)
def test_config_dict_round_trip(architecture: str) -> None:
    extra = {"embed_dim": 5} if architecture in CONDITIONAL_ARCHITECTURES else {}
    cfg = tiny_config(architecture, image_size=28, channels=1, **extra)
    data = json.loads(json.dumps(model_config_to_dict(cfg)))
    assert data["architecture"] == architecture
    restored = model_config_from_dict(data)
    assert restored == cfg
    assert type(restored) is type(cfg)
    if isinstance(cfg, MLPGANConfig):
        assert data["g_hidden"] == [8, 8]
        assert restored.g_hidden == (8, 8)
    # The restored config builds weights that load into the original's networks.
    build_generator(restored).load_state_dict(build_generator(cfg).state_dict())


def test_config_from_dict_errors() -> None:
    data = model_config_to_dict(make_model_config("dcgan"))
    with pytest.raises(ValueError, match="must be a dict"):
        model_config_from_dict([("architecture", "dcgan")])  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="missing the key 'architecture'"):
        model_config_from_dict({k: v for k, v in data.items() if k != "architecture"})
    with pytest.raises(ValueError, match="missing keys: latent_dim"):
        model_config_from_dict({k: v for k, v in data.items() if k != "latent_dim"})
    with pytest.raises(ValueError, match="unknown keys for 'dcgan': ngf"):
        model_config_from_dict({**data, "ngf": 64})
    with pytest.raises(ValueError, match="unknown architecture 'stylegan'"):
        model_config_from_dict({**data, "architecture": "stylegan"})
    with pytest.raises(ValueError, match="latent_dim must be an integer"):
        model_config_from_dict({**data, "latent_dim": "100"})
    with pytest.raises(ValueError, match="latent_dim must be an integer"):
        model_config_from_dict({**data, "latent_dim": 100.0})


def test_config_written_before_d_pack_still_loads() -> None:
    data = model_config_to_dict(make_model_config("dcgan"))
    del data["d_pack"]
    assert model_config_from_dict(data) == make_model_config("dcgan")


def test_config_written_before_info_codes_still_loads() -> None:
    data = model_config_to_dict(make_model_config("dcgan"))
    del data["info_codes"]
    restored = model_config_from_dict(data)
    assert isinstance(restored, DCGANConfig) and restored.info_codes == 0
    assert restored == make_model_config("dcgan")
    # The MLP family has no such field, and its stored configs stay as they were.
    mlp = model_config_to_dict(make_model_config("gan"))
    assert "info_codes" not in mlp and model_config_from_dict(mlp) == make_model_config("gan")


def test_info_code_is_the_argmax_of_the_first_latent_components() -> None:
    z = latents_for_seeds(range(2000), 16)
    codes = info_code(z, 4)
    assert torch.equal(codes, z[:, :4].argmax(dim=1))
    assert torch.equal(codes, info_code(latents_for_seeds(range(2000), 16), 4))  # seed -> code
    counts = torch.bincount(codes, minlength=4)
    assert counts.min() > 400 and counts.max() < 600  # uniform: 500 each expected


def test_info_generator_sees_z_only_through_its_code_and_the_rest() -> None:
    cfg = tiny_config("dcgan", image_size=16, channels=1, info_codes=4)
    netG = build_generator(cfg).eval()
    z = latents_for_seeds(range(6), 8)
    same_code = z.clone()
    same_code[:, :4] *= 3.0  # scales the first four components: the argmax stays
    other_code = z.clone()
    other_code[:, :4] = -z[:, :4]  # flips them: the argmax moves (almost surely)
    assert torch.equal(info_code(same_code, 4), info_code(z, 4))
    assert not torch.equal(info_code(other_code, 4), info_code(z, 4))
    other_rest = z.clone()
    other_rest[:, 4:] += 1.0
    with torch.no_grad():
        images = netG(z)
        assert torch.equal(netG(same_code), images)
        changed = (netG(other_code) - images).abs().flatten(1).amax(dim=1)
        moved = info_code(other_code, 4) != info_code(z, 4)
        assert (changed[moved] > 1e-4).all() and (changed[~moved] == 0).all()
        assert not torch.equal(netG(other_rest), images)  # the remaining components still count


@pytest.mark.parametrize("pack", [1, 2])
def test_q_head_predicts_each_samples_code_beside_the_logit(pack: int) -> None:
    cfg = tiny_config("dcgan", image_size=16, channels=1, info_codes=5, d_pack=pack, d_norm="none")
    netD = build_discriminator(cfg)
    x = torch.randn(6, 1, 16, 16, generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        logits, code_logits = netD.forward_with_codes(x)
        assert torch.equal(netD(x), logits) and logits.shape == (6 // pack,)
        assert code_logits is not None and code_logits.shape == (6, 5)
        changed = x.clone()
        changed[-1] *= 5  # the last sample: only its own pack's rows may move
        _, code_logits_changed = netD.forward_with_codes(changed)
        assert code_logits_changed is not None
        assert torch.equal(code_logits[: 6 - pack], code_logits_changed[: 6 - pack])
        assert not torch.equal(code_logits[-1], code_logits_changed[-1])
    # Without codes there is no head, and the weights are the ones older checkpoints hold.
    plain = build_discriminator(tiny_config("dcgan", image_size=16, channels=1, d_pack=pack, d_norm="none"))
    assert plain.forward_with_codes(x)[1] is None
    assert {k for k in netD.state_dict() if not k.startswith("code_head.")} == set(plain.state_dict())


@pytest.mark.parametrize("architecture", ARCHITECTURES)
def test_packed_discriminator_judges_each_group_of_samples_together(architecture: str) -> None:
    cfg = tiny_config(architecture, image_size=16, channels=1, d_pack=2, d_norm="none")
    netD = build_discriminator(cfg)
    x = torch.randn(6, 1, 16, 16, generator=torch.Generator().manual_seed(2))
    labels = labels_for(cfg, 6)
    with torch.no_grad():
        logits = netD(x, labels)
        changed = x.clone()
        changed[1] *= 5  # the second sample of the first pack
        logits_changed = netD(changed, labels)
        assert logits.shape == (3,)
        assert not torch.isclose(logits[0], logits_changed[0])  # the pack sees both of its samples
        assert torch.equal(logits[1:], logits_changed[1:])  # and nothing outside it
        with pytest.raises(ValueError, match="divisible by 2"):
            netD(x[:5], labels[:5] if labels is not None else None)


def test_embedding_size_defaults_to_num_classes() -> None:
    cfg = make_model_config("cgan", num_classes=10)
    assert build_generator(cfg).label_embedding.embedding_dim == 10
    cfg = make_model_config("cdcgan", num_classes=10, embed_dim=50, image_size=32)
    assert build_generator(cfg).label_embedding.embedding_dim == 50
    assert build_discriminator(cfg).label_projection.out_features == 32 * 32


def test_build_refuses_non_configs() -> None:
    with pytest.raises(ValueError, match="not a model config"):
        build_generator({"architecture": "gan"})  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="not a model config"):
        build_discriminator({"architecture": "gan"})  # type: ignore[arg-type]


def test_self_conditioned_d_reads_each_images_code_instead_of_guessing_it() -> None:
    cfg = tiny_config("dcgan", image_size=16, channels=1, info_codes=5, self_conditioned=True)
    netD = build_discriminator(cfg)
    assert netD.code_head is None and netD.label_embedding is not None
    assert netD.label_embedding.num_embeddings == 5
    x = torch.randn(4, 1, 16, 16, generator=torch.Generator().manual_seed(4))
    codes = torch.tensor([0, 1, 4, 2])
    with torch.no_grad():
        logits, code_logits = netD.forward_with_codes(x, codes)
        assert logits.shape == (4,) and code_logits is None
        assert not torch.equal(netD(x, torch.tensor([3, 1, 4, 2])), logits)  # the code counts
    with pytest.raises(ValueError, match="needs each image's code"):
        netD(x)
    with pytest.raises(ValueError, match=r"codes must lie in 0\.\.4"):
        netD(x, torch.tensor([0, 1, 5, 2]))
    # G is the InfoGAN generator: unconditional outside, its code drawn from z.
    netG = build_generator(cfg).eval()
    with torch.no_grad():
        assert netG(latents_for_seeds(range(3), 8)).shape == (3, 1, 16, 16)
    restored = model_config_from_dict(model_config_to_dict(cfg))
    assert restored == cfg and restored.self_conditioned


def test_projection_d_adds_the_class_vectors_inner_product_with_its_last_features() -> None:
    cfg = tiny_config("cdcgan", image_size=16, channels=3, d_conditioning="projection", d_norm="none")
    netD = build_discriminator(cfg)
    # No label map: D's body sees the image alone, and the label enters at the end only.
    assert netD.label_embedding is None and netD.label_projection is None
    assert netD.class_projection is not None
    assert netD.class_projection.weight.std() < 0.05  # the output layer's scale, not N(0, 1)
    x = torch.randn(4, 3, 16, 16, generator=torch.Generator().manual_seed(5))
    labels = torch.tensor([0, 1, 2, 0])
    with torch.no_grad():
        features = netD.net[:-1](x)
        unconditional = netD.net[-1](features).view(4)
        expected = unconditional + (netD.class_projection.weight[labels] * features.flatten(1)).sum(dim=1)
        torch.testing.assert_close(netD(x, labels), expected)
        assert not torch.equal(netD(x, torch.tensor([1, 2, 0, 1])), netD(x, labels))
    with pytest.raises(ValueError, match="labels"):
        netD(x)
    restored = model_config_from_dict(model_config_to_dict(cfg))
    assert restored == cfg and restored.d_conditioning == "projection"
    build_discriminator(restored).load_state_dict(netD.state_dict())


def test_config_written_before_d_conditioning_reads_its_label_as_a_map() -> None:
    data = model_config_to_dict(tiny_config("cdcgan"))
    del data["d_conditioning"]
    restored = model_config_from_dict(data)
    assert isinstance(restored, DCGANConfig) and restored.d_conditioning == "map"
    assert build_discriminator(restored).label_projection is not None


@pytest.mark.parametrize("architecture", ARCHITECTURES)
def test_spectral_norm_bounds_every_weight_of_d_by_one(architecture: str) -> None:
    cfg = tiny_config(architecture, image_size=16, channels=1, d_spectral_norm=True, d_norm="none")
    netD = build_discriminator(cfg)
    weighted = [m for m in netD.modules() if isinstance(m, nn.Conv2d | nn.Linear | nn.Embedding)]
    assert weighted and all(hasattr(m, "parametrizations") for m in weighted)
    x = torch.randn(4, 1, 16, 16, generator=torch.Generator().manual_seed(6))
    labels = labels_for(cfg, 4)
    for _ in range(30):  # each training-mode pass is one step of power iteration
        netD(x, labels)
    for layer in weighted:
        # What SN bounds: the weight as a (out, everything else) matrix.
        matrix = layer.weight.detach().flatten(1)
        torch.testing.assert_close(
            torch.linalg.matrix_norm(matrix, ord=2), torch.tensor(1.0), rtol=0.02, atol=0
        )
    plain = build_discriminator(tiny_config(architecture, image_size=16, channels=1, d_norm="none"))
    assert not any(hasattr(m, "parametrizations") for m in plain.modules())
    restored = model_config_from_dict(model_config_to_dict(cfg))
    assert restored == cfg
    build_discriminator(restored).load_state_dict(netD.state_dict())


def test_config_written_before_spectral_norm_loads_without_it() -> None:
    for architecture in ("gan", "dcgan"):
        data = model_config_to_dict(make_model_config(architecture))
        del data["d_spectral_norm"]
        assert model_config_from_dict(data) == make_model_config(architecture)
    with pytest.raises(ValueError, match="d_spectral_norm must be true or false"):
        make_model_config("dcgan", d_spectral_norm=1)
