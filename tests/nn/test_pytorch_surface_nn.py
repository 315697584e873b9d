"""torch.nn code runs on the engine with only its imports changed.

The same model-building code is run twice, once with ``torch.nn`` and once
with ``minitransformer.nn``: the names it registers (parameters, buffers,
sub-modules, state_dict keys), the order ``apply`` visits them, weight
tying, copying, and the values and gradients (float64) must be PyTorch's.
PyTorch is only a reference here.
"""
import copy
import math
import warnings
from collections import OrderedDict

import numpy as np
import pytest

import minitransformer as mt
from minitransformer import nn
from minitransformer.nn import init

torch = pytest.importorskip("torch")
TOL = dict(rtol=1e-10, atol=1e-12)


def T(data, dtype="float64", requires_grad=False):
    return mt.tensor(data, dtype=dtype, requires_grad=requires_grad, backend=mt.get_backend())


def normal(shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape)


def tiny_lm(lib):
    """A small language model written once for both libraries: ``lib`` is ``torch`` or ``mt``."""
    nn_ = lib.nn

    class TinyLM(nn_.Module):
        def __init__(self):
            super().__init__()
            self.wte = nn_.Embedding(7, 4)
            self.blocks = nn_.ModuleDict({
                "attn": nn_.Linear(4, 4),
                "mlp": nn_.Sequential(OrderedDict([("fc", nn_.Linear(4, 8)), ("act", nn_.GELU()),
                                                   ("proj", nn_.Linear(8, 4))])),
            })
            self.norms = nn_.ModuleList([nn_.LayerNorm(4), nn_.LayerNorm(4, bias=False)])
            self.drop = nn_.Dropout(0.1)
            self.lm_head = nn_.Linear(4, 7, bias=False)
            self.lm_head.weight = self.wte.weight          # weight tying by assignment
            self.shared = self.blocks["attn"]              # one module under two names
            self.register_buffer("step", lib.zeros(1))
            self.register_buffer("table", lib.ones(3), persistent=False)

        def forward(self, ids):
            h = self.drop(self.wte(ids))
            h = self.norms[0](h + self.blocks["attn"](h))
            h = self.norms[1](h + self.blocks["mlp"](h))
            return self.lm_head(h)

    return TinyLM()


IDS = np.array([[1, 4, 6, 0], [2, 2, 5, 3]])


def both_models():
    """The same model in both libraries, in float64, with PyTorch's weights copied into ours."""
    theirs = tiny_lm(torch).double()
    ours = tiny_lm(mt).double()
    ours.load_state_dict({k: v.detach().numpy() for k, v in theirs.state_dict().items()})
    return ours, theirs


# ------------------------------------------------------------ names and de-duplication
def test_named_members_and_state_dict_keys_are_pytorchs():
    ours, theirs = both_models()
    for method, kw in [("named_parameters", {}), ("named_buffers", {}), ("named_children", {}),
                       ("named_modules", {}), ("named_parameters", {"prefix": "model"}),
                       ("named_parameters", {"remove_duplicate": False}), ("named_parameters", {"recurse": False}),
                       ("named_buffers", {"recurse": False}), ("named_modules", {"remove_duplicate": False}),
                       ("named_modules", {"prefix": "m"})]:
        names = [name for name, _ in getattr(ours, method)(**kw)]
        assert names == [name for name, _ in getattr(theirs, method)(**kw)], (method, kw)
    assert list(ours.state_dict()) == list(theirs.state_dict())
    assert "lm_head.weight" in ours.state_dict() and "wte.weight" in ours.state_dict()   # tied: both keys
    assert "table" not in ours.state_dict()                                               # not persistent
    assert len(list(ours.parameters())) == len(list(theirs.parameters()))
    assert [type(m).__name__ for m in ours.children()] == [type(m).__name__ for m in theirs.children()]


def test_apply_visits_children_first_then_self_as_pytorch():
    ours, theirs = both_models()
    seen_ours, seen_theirs = [], []
    assert ours.apply(lambda m: seen_ours.append(type(m).__name__)) is ours
    theirs.apply(lambda m: seen_theirs.append(type(m).__name__))
    assert seen_ours == seen_theirs
    assert seen_ours[-1] == "TinyLM" and seen_ours.count("Linear") == 5       # 'shared' is visited again


# ------------------------------------------------------------ values, gradients, weight tying
def test_forward_and_gradients_match_pytorch_with_tied_weights():
    ours, theirs = both_models()
    ours.eval()
    theirs.eval()
    out, ref = ours(IDS), theirs(torch.tensor(IDS))
    np.testing.assert_allclose(out.numpy(), ref.detach().numpy(), **TOL)
    v = normal(out.shape, 1)
    out.backward(T(v))
    ref.backward(torch.tensor(v))
    grads = {n: p.grad.numpy() for n, p in ours.named_parameters()}
    for name, p in theirs.named_parameters():
        np.testing.assert_allclose(grads[name], p.grad.numpy(), err_msg=name, **TOL)


def test_tied_weight_is_one_parameter_whose_gradient_adds_both_uses():
    ours, _ = both_models()
    ours.eval()
    assert ours.lm_head.weight is ours.wte.weight
    assert sum(p is ours.wte.weight for p in ours.parameters()) == 1
    (ours(IDS) ** 2).sum().backward()
    both_uses = ours.wte.weight.grad.numpy().copy()

    # the same sums, untied: the lookup's gradient plus the output layer's
    untied = copy.deepcopy(ours)
    untied.lm_head.weight = nn.Parameter(untied.wte.weight)
    for p in untied.parameters():
        p.grad = None
    (untied(IDS) ** 2).sum().backward()
    np.testing.assert_allclose(both_uses, untied.wte.weight.grad.numpy() + untied.lm_head.weight.grad.numpy(),
                               **TOL)


def test_load_state_dict_keeps_tied_weights_tied():
    ours, _ = both_models()
    state = {k: v.numpy() * 0 + 0.5 for k, v in ours.state_dict().items()}
    result = ours.load_state_dict(state)
    assert ours.lm_head.weight is ours.wte.weight
    assert (ours.wte.weight.numpy() == 0.5).all()
    missing, unexpected = result                                   # PyTorch's (missing_keys, unexpected_keys)
    assert missing == [] and unexpected == [] and repr(result) == "<All keys matched successfully>"
    del state["step"]
    state["extra"] = np.zeros(1)
    result = ours.load_state_dict(state, strict=False)
    assert result.missing_keys == ["step"] and result.unexpected_keys == ["extra"]


def test_state_dict_values_are_detached_views_as_pytorch():
    ours, _ = both_models()
    state = ours.state_dict()
    assert not state["wte.weight"].requires_grad and state["wte.weight"].data is ours.wte.weight.data
    assert ours.state_dict(keep_vars=True)["wte.weight"] is ours.wte.weight
    assert state["step"].data is ours.step.data


# ------------------------------------------------------------ copying, modes, freezing, casting
def test_deepcopy_gives_independent_parameters_and_buffers_and_keeps_ties():
    ours, _ = both_models()
    ours.eval()
    clone = copy.deepcopy(ours)
    assert clone.lm_head.weight is clone.wte.weight and clone.wte.weight is not ours.wte.weight
    assert clone.shared is clone.blocks["attn"]
    assert type(clone.wte.weight) is nn.Parameter and clone.wte.weight.requires_grad
    np.testing.assert_array_equal(clone(IDS).numpy(), ours(IDS).numpy())
    for (name, a), (_, b) in zip(ours.state_dict().items(), clone.state_dict().items()):
        assert a.data is not b.data, name
    clone.wte.weight.data[...] = 0
    clone.step.data[...] = 7
    assert not (ours.wte.weight.numpy() == 0).all() and ours.step.numpy()[0] == 0
    np.testing.assert_array_equal(clone.table.numpy(), ours.table.numpy())


@pytest.mark.parametrize("make", [
    lambda: nn.Linear(3, 4), lambda: nn.Embedding(5, 3, padding_idx=0), lambda: nn.LayerNorm(4),
    lambda: nn.Dropout(0.2), lambda: nn.PositionalEncoding(4, max_len=8), lambda: nn.LearnedPositionalEmbedding(8, 4),
    lambda: nn.Sequential(nn.Linear(2, 3), nn.ReLU()), lambda: nn.ModuleList([nn.Linear(2, 2)]),
    lambda: nn.ModuleDict({"a": nn.Linear(2, 2)}), lambda: nn.GELU(), lambda: nn.Identity(),
    lambda: nn.CrossEntropyLoss(weight=mt.ones(3)),
], ids=lambda make: type(make()).__name__)
def test_deepcopy_of_each_layer_copies_its_parameters_and_buffers(make):
    module = make()
    clone = copy.deepcopy(module)
    originals = list(module.parameters()) + list(module.buffers())
    copies = list(clone.parameters()) + list(clone.buffers())
    assert len(originals) == len(copies) and type(clone) is type(module)
    for a, b in zip(originals, copies):
        assert a is not b and a.data is not b.data and type(a) is type(b)
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    assert repr(clone) == repr(module)


def test_train_eval_call_each_childs_train_as_pytorch():
    calls = []

    class Recording(nn.Module):
        def train(self, mode=True):
            calls.append(mode)
            return super().train(mode)

    model = nn.Sequential(nn.Linear(2, 2), nn.Sequential(Recording(), nn.Dropout(0.5)))
    assert model.eval() is model and calls == [False]
    assert not any(m.training for m in model.modules())
    model.train()
    assert calls == [False, True] and all(m.training for m in model.modules())
    with pytest.raises(ValueError, match="boolean"):
        model.train("no")


def test_requires_grad_freezes_and_unfreezes_every_parameter():
    model = nn.Sequential(nn.Linear(2, 3), nn.LayerNorm(3))
    assert model.requires_grad_(False) is model
    assert not any(p.requires_grad for p in model.parameters())
    model[0].requires_grad_()
    assert [p.requires_grad for p in model.parameters()] == [True, True, False, False]


def test_double_float_and_to_dtype_cast_the_floating_tensors():
    model = nn.Sequential(nn.Embedding(5, 3), nn.Linear(3, 2))
    model.register_buffer("ids", mt.tensor([1, 2]))
    assert model.double() is model
    assert {p.dtype for p in model.parameters()} == {np.dtype("float64")} and model.ids.dtype == np.int64
    model.float()
    assert {p.dtype for p in model.parameters()} == {np.dtype("float32")}
    model.to("float64")
    assert model[1].weight.dtype == np.float64
    with pytest.raises(ValueError, match="a backend .* or a float dtype"):
        model.to("int64")


def test_zero_grad_sets_to_none_or_zeros():
    lin = nn.Linear(2, 2)
    lin(mt.ones(1, 2)).sum().backward()
    lin.zero_grad(set_to_none=False)
    assert (lin.weight.grad.numpy() == 0).all()
    lin.zero_grad()
    assert lin.weight.grad is None


# ------------------------------------------------------------ registration
def test_register_buffer_non_persistent_and_bad_names_as_pytorch():
    for lib in (torch, mt):
        m = lib.nn.Linear(2, 2)
        m.register_buffer("running", lib.zeros(2))
        m.register_buffer("scratch", lib.zeros(2), persistent=False)
        assert list(m.state_dict()) == ["weight", "bias", "running"]
        assert [n for n, _ in m.named_buffers()] == ["running", "scratch"]
        with pytest.raises(KeyError, match="already exists"):
            m.register_buffer("weight", lib.zeros(2))
        with pytest.raises(KeyError):
            m.register_buffer("a.b", lib.zeros(2))
        with pytest.raises(TypeError):
            m.register_buffer(3, lib.zeros(2))


def test_assigning_a_plain_tensor_to_a_parameter_name_is_refused_as_pytorch():
    for lib in (torch, mt):
        lin = lib.nn.Linear(2, 3)
        with pytest.raises(TypeError, match="parameter 'weight'"):
            lin.weight = lib.zeros(3, 2)
        lin.bias = None                                     # None unregisters the value, keeps the name
        assert [n for n, _ in lin.named_parameters()] == ["weight"]
        lin.bias = lib.nn.Parameter(lib.zeros(3))
        assert [n for n, _ in lin.named_parameters()] == ["weight", "bias"]    # in its old place


def test_register_parameter_add_module_get_submodule():
    model = nn.Module()
    model.register_parameter("scale", nn.Parameter(mt.ones(2)))
    model.add_module("head", nn.Sequential(nn.Linear(2, 2)))
    assert [n for n, _ in model.named_parameters()] == ["scale", "head.0.weight", "head.0.bias"]
    assert model.get_submodule("head.0") is model.head[0]
    assert model.get_parameter("head.0.bias") is model.head[0].bias
    with pytest.raises(TypeError, match="not a Module"):
        model.add_module("x", 3)
    with pytest.raises(AttributeError, match="no sub-module 'tail'"):
        model.get_submodule("tail")


def test_forward_hooks_see_and_may_replace_inputs_and_outputs():
    lin = nn.Linear(2, 2)
    seen = []
    handle = lin.register_forward_hook(lambda m, args, out: seen.append((m, args[0].shape, out.shape)))
    pre = lin.register_forward_pre_hook(lambda m, args: (args[0] * 0,))
    out = lin(mt.ones(3, 2))
    assert seen == [(lin, (3, 2), (3, 2))]
    np.testing.assert_allclose(out.numpy(), np.broadcast_to(lin.bias.numpy(), (3, 2)))
    handle.remove()
    pre.remove()
    lin(mt.ones(1, 2))
    assert len(seen) == 1


def test_parameter_from_a_tensor_keeps_its_dtype_as_pytorch():
    assert nn.Parameter(mt.tensor([1.0, 2.0], dtype="float64")).dtype == np.float64
    assert nn.Parameter(mt.tensor([1.0], dtype="float64"), requires_grad=False).requires_grad is False
    assert nn.Parameter().shape == (0,)


# ------------------------------------------------------------ containers
def test_module_dict_behaves_as_pytorchs():
    for lib in (torch, mt):
        d = lib.nn.ModuleDict({"b": lib.nn.Linear(2, 2)})
        d["a"] = lib.nn.Linear(2, 3)
        d.update([("c", lib.nn.Tanh())])
        d.update({"b": lib.nn.Linear(2, 4)})           # replaced in place
        assert list(d) == ["b", "a", "c"] and list(d.keys()) == ["b", "a", "c"]
        assert len(d) == 3 and "a" in d and "z" not in d
        assert d["b"].out_features == 4 and [type(m).__name__ for m in d.values()] == ["Linear"] * 2 + ["Tanh"]
        assert list(d.state_dict()) == ["b.weight", "b.bias", "a.weight", "a.bias"]
        assert type(d.pop("a")).__name__ == "Linear" and list(d) == ["b", "c"]
        del d["c"]
        assert [k for k, _ in d.items()] == ["b"]
        for bad, error in (("x.y", KeyError), ("train", KeyError), ("", KeyError)):
            with pytest.raises(error):
                d[bad] = lib.nn.Tanh()
        d.clear()
        assert len(d) == 0


def test_module_dict_in_a_model_gives_pytorchs_state_dict_names():
    def build(lib):
        class Heads(lib.nn.Module):
            def __init__(self):
                super().__init__()
                self.heads = lib.nn.ModuleDict({"cls": lib.nn.Linear(3, 2), "reg": lib.nn.Linear(3, 1)})

        return Heads()

    assert list(build(mt).state_dict()) == list(build(torch).state_dict())
    assert len(list(build(mt).parameters())) == 4


def test_sequential_and_module_list_index_slice_and_renumber_as_pytorch():
    def build(lib):
        return lib.nn.Sequential(lib.nn.Linear(2, 3), lib.nn.ReLU(), lib.nn.Linear(3, 4), lib.nn.Tanh())

    ours, theirs = build(mt), build(torch)
    assert type(ours[-1]).__name__ == "Tanh" and type(ours[1:3]).__name__ == "Sequential"
    assert [n for n, _ in ours[1:3].named_children()] == [n for n, _ in theirs[1:3].named_children()]
    del ours[1]
    del theirs[1]
    assert list(ours.state_dict()) == list(theirs.state_dict())
    ours.append(mt.nn.Sigmoid())
    theirs.append(torch.nn.Sigmoid())
    assert [n for n, _ in ours.named_children()] == [n for n, _ in theirs.named_children()]
    with pytest.raises(IndexError):
        ours[10]
    named = mt.nn.Sequential(OrderedDict([("fc", mt.nn.Linear(2, 2)), ("act", mt.nn.ReLU())]))
    assert list(named.state_dict()) == ["fc.weight", "fc.bias"] and named.fc is named[0]

    lists = [lib.nn.ModuleList([lib.nn.Linear(1, 1), lib.nn.Linear(1, 2)]) for lib in (mt, torch)]
    for lib, layers in zip((mt, torch), lists):
        layers.insert(0, lib.nn.Tanh())
        layers.extend([lib.nn.ReLU()])
        layers += [lib.nn.Linear(2, 2)]
        layers.pop(1)
        layers[0] = lib.nn.Sigmoid()
    assert [(n, type(m).__name__) for n, m in lists[0].named_children()] == \
        [(n, type(m).__name__) for n, m in lists[1].named_children()]
    assert list(lists[0].state_dict()) == list(lists[1].state_dict())
    assert type(lists[0][1:]).__name__ == "ModuleList" and len(lists[0][1:]) == 3


def test_sequential_runs_pytorchs_modules_in_order():
    x = normal((3, 4), 2)
    ours = nn.Sequential(nn.Linear(4, 5), nn.GELU(), nn.Linear(5, 3), nn.Softmax(dim=-1)).double()
    theirs = torch.nn.Sequential(torch.nn.Linear(4, 5), torch.nn.GELU(), torch.nn.Linear(5, 3),
                                 torch.nn.Softmax(dim=-1)).double()
    ours.load_state_dict({k: v.detach().numpy() for k, v in theirs.state_dict().items()})
    np.testing.assert_allclose(ours(T(x)).numpy(), theirs(torch.tensor(x)).detach().numpy(), **TOL)


# ------------------------------------------------------------ activation and loss modules
@pytest.mark.parametrize("name, args", [
    ("ReLU", ()), ("ReLU", (True,)), ("GELU", ()), ("GELU", ("tanh",)), ("Tanh", ()), ("Sigmoid", ()),
    ("Softmax", (1,)), ("Softmax", (-1,)), ("LogSoftmax", (0,)), ("Identity", ()), ("Dropout", (0.3, True)),
])
def test_activation_modules_match_pytorch_in_values_gradients_and_repr(name, args):
    ours_layer, theirs_layer = getattr(nn, name)(*args), getattr(torch.nn, name)(*args)
    assert repr(ours_layer) == repr(theirs_layer)
    if name == "Dropout":
        return
    x = normal((3, 4, 5), 3)
    a, b = T(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    out, ref = ours_layer(a), theirs_layer(b * 1.0)
    np.testing.assert_allclose(out.numpy(), ref.detach().numpy(), **TOL)
    v = normal(out.shape, 4)
    out.backward(T(v))
    ref.backward(torch.tensor(v))
    np.testing.assert_allclose(a.grad.numpy(), b.grad.numpy(), **TOL)


def test_softmax_module_without_dim_warns_as_pytorch():
    x = normal((2, 3), 5)
    with pytest.warns(UserWarning, match="Implicit dimension"):
        out = nn.Softmax()(T(x))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        np.testing.assert_allclose(out.numpy(), torch.nn.Softmax()(torch.tensor(x)).numpy(), **TOL)
    with pytest.raises(ValueError, match="approximate"):
        nn.GELU("exact")


@pytest.mark.parametrize("kw", [{}, {"ignore_index": 1, "label_smoothing": 0.1}, {"reduction": "sum"},
                                {"weighted": True, "reduction": "none"}, {"weighted": True, "label_smoothing": 0.2}])
def test_loss_modules_match_pytorch(kw):
    kw = dict(kw)
    weight = np.array([0.5, 1.0, 2.0, 1.5]) if kw.pop("weighted", False) else None
    x, target = normal((5, 4, 2), 6), np.random.default_rng(7).integers(0, 4, (5, 2))
    ours = nn.CrossEntropyLoss(weight=None if weight is None else T(weight), **kw)
    theirs = torch.nn.CrossEntropyLoss(weight=None if weight is None else torch.tensor(weight), **kw)
    assert list(ours.state_dict()) == list(theirs.state_dict())
    a, b = T(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    out, ref = ours(a, target), theirs(b, torch.tensor(target))
    np.testing.assert_allclose(out.numpy(), ref.detach().numpy(), **TOL)
    out.sum().backward()
    ref.sum().backward()
    np.testing.assert_allclose(a.grad.numpy(), b.grad.numpy(), **TOL)

    nll_kw = {k: v for k, v in kw.items() if k != "label_smoothing"}
    log_p = torch.log_softmax(torch.tensor(x), dim=1).numpy()
    nll = nn.NLLLoss(weight=None if weight is None else T(weight), **nll_kw)(T(log_p), target)
    nll_ref = torch.nn.NLLLoss(weight=None if weight is None else torch.tensor(weight), **nll_kw)(
        torch.tensor(log_p), torch.tensor(target))
    np.testing.assert_allclose(nll.numpy(), nll_ref.numpy(), **TOL)
    mse = nn.MSELoss(reduction=kw.get("reduction", "mean"))(T(x), T(x * 0.5))
    mse_ref = torch.nn.MSELoss(reduction=kw.get("reduction", "mean"))(torch.tensor(x), torch.tensor(x * 0.5))
    np.testing.assert_allclose(mse.numpy(), mse_ref.numpy(), **TOL)


# ------------------------------------------------------------ layers: PyTorch's arguments
def test_embedding_from_pretrained_frozen_or_trained_as_pytorch():
    table = normal((5, 3), 8)
    table[1] = 7.0                                       # the padding row is kept as given
    ids = np.array([[1, 2, 4], [0, 1, 1]])
    for freeze in (True, False):
        ours = nn.Embedding.from_pretrained(T(table), freeze=freeze, padding_idx=1)
        theirs = torch.nn.Embedding.from_pretrained(torch.tensor(table), freeze=freeze, padding_idx=1)
        assert ours.weight.requires_grad is theirs.weight.requires_grad is (not freeze)
        assert ours.weight.dtype == np.float64 and ours.padding_idx == 1
        out, ref = ours(ids), theirs(torch.tensor(ids))
        np.testing.assert_array_equal(out.numpy(), ref.detach().numpy())
        if not freeze:
            out.sum().backward()
            ref.sum().backward()
            np.testing.assert_array_equal(ours.weight.grad.numpy(), theirs.weight.grad.numpy())
            assert (ours.weight.grad.numpy()[1] == 0).all()
    with pytest.raises(ValueError, match="2-dimensional"):
        nn.Embedding.from_pretrained(T(np.zeros(3)))


def test_layer_norm_without_bias_and_dropout_p_one_as_pytorch():
    ours, theirs = nn.LayerNorm(4, bias=False), torch.nn.LayerNorm(4, bias=False)
    assert [n for n, _ in ours.named_parameters()] == [n for n, _ in theirs.named_parameters()] == ["weight"]
    x = normal((2, 4), 9)
    np.testing.assert_allclose(ours.double()(T(x)).numpy(), theirs.double()(torch.tensor(x)).detach().numpy(),
                               **TOL)
    drop = nn.Dropout(1.0)
    assert (drop(mt.ones(3, 3)).numpy() == 0).all()
    assert drop.eval()(mt.ones(2)).numpy().tolist() == [1.0, 1.0]


# ------------------------------------------------------------ nn.init
def _param(*shape, dtype=np.float32):
    return nn.Parameter(mt.tensor(np.zeros(shape, dtype=dtype), dtype=dtype))


@pytest.mark.parametrize("shape", [(3, 4), (7, 2, 5), (6, 4, 3, 2), (1, 9)])
def test_fans_are_pytorchs(shape):
    assert init._calculate_fan_in_and_fan_out(_param(*shape)) == \
        torch.nn.init._calculate_fan_in_and_fan_out(torch.zeros(shape))


@pytest.mark.parametrize("nonlinearity, param", [
    ("linear", None), ("sigmoid", None), ("tanh", None), ("relu", None), ("leaky_relu", None),
    ("leaky_relu", 0.2), ("leaky_relu", math.sqrt(5)), ("selu", None), ("conv2d", None),
])
def test_gains_are_pytorchs(nonlinearity, param):
    assert init.calculate_gain(nonlinearity, param) == pytest.approx(torch.nn.init.calculate_gain(nonlinearity, param))


SHAPE = (400, 500)                                       # 200,000 draws: moments within ~1%


def _stats(t):
    values = t.numpy().astype(np.float64)
    return values.mean(), values.std(), values.min(), values.max()


@pytest.mark.parametrize("name, kw, bound, std", [
    ("uniform_", {"a": -2.0, "b": 3.0}, (-2.0, 3.0), 5 / math.sqrt(12)),
    ("normal_", {"mean": 0.5, "std": 2.0}, None, 2.0),
    ("xavier_uniform_", {"gain": 2.0}, 2.0 * math.sqrt(6 / 900), 2.0 * math.sqrt(2 / 900)),
    ("xavier_normal_", {}, None, math.sqrt(2 / 900)),
    ("kaiming_uniform_", {"a": math.sqrt(5)}, 1 / math.sqrt(500), 1 / math.sqrt(3 * 500)),
    ("kaiming_uniform_", {"mode": "fan_out", "nonlinearity": "relu"}, math.sqrt(6 / 400), math.sqrt(2 / 400)),
    ("kaiming_normal_", {}, None, math.sqrt(2 / 500)),
    ("kaiming_normal_", {"mode": "fan_out", "nonlinearity": "tanh"}, None, 5 / 3 / math.sqrt(400)),
    ("trunc_normal_", {"std": 1.0, "a": -1.0, "b": 1.0}, (-1.0, 1.0), 0.5376),
])
def test_initializers_moments_and_bounds_match_pytorchs(name, kw, bound, std):
    ours = getattr(init, name)(_param(*SHAPE), **kw)
    torch.manual_seed(0)
    theirs = getattr(torch.nn.init, name)(torch.zeros(SHAPE), **kw)
    mean, ours_std, low, high = _stats(ours)
    ref_mean, ref_std = float(theirs.mean()), float(theirs.std())
    assert ours_std == pytest.approx(std, rel=0.01) and ref_std == pytest.approx(std, rel=0.01)
    assert abs(mean - ref_mean) < 0.02 * max(std, 1.0) + abs(ref_mean) * 0.01
    if bound is not None:
        lo, hi = bound if isinstance(bound, tuple) else (-bound, bound)
        assert lo <= low and high <= hi
        assert low < lo + 0.01 * (hi - lo) and high > hi - 0.01 * (hi - lo)   # the bounds are reached


def test_initializers_are_in_place_seeded_keep_dtype_and_record_no_graph():
    p = _param(30, 20, dtype=np.float64)
    data = p.data
    mt.manual_seed(11)
    assert init.kaiming_uniform_(p) is p and p.data is data and p.dtype == np.float64
    first = p.numpy().copy()
    mt.manual_seed(11)
    init.kaiming_uniform_(p)
    np.testing.assert_array_equal(p.numpy(), first)
    assert p.is_leaf and p.requires_grad and p.grad is None
    for fn in (init.zeros_, init.ones_, lambda t: init.constant_(t, 0.25)):
        assert fn(p) is p
    assert (p.numpy() == 0.25).all()


def test_initializing_a_tied_weight_initializes_both_uses():
    wte, head = nn.Embedding(6, 4), nn.Linear(4, 6, bias=False)
    head.weight = wte.weight
    init.normal_(head.weight, std=0.02)
    assert wte.weight is head.weight and abs(wte.weight.numpy().std() - 0.02) < 0.01


def test_kaiming_on_a_zero_element_tensor_is_a_no_op_with_pytorchs_warning():
    with pytest.warns(UserWarning, match="zero-element"):
        p = init.kaiming_uniform_(_param(0, 3))
    assert p.shape == (0, 3)
