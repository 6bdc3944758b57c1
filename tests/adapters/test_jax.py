"""pyrnn.jax: values and gradients (jax.grad under jax.jit) against a plain jax.numpy implementation.

The oracle below is the textbook recurrence written with jax.lax.scan,
differentiated by JAX itself; pyrnn.jax runs the pyrnn kernels through
pure_callback with a custom VJP. Both take the same torch.nn-named params.
"""
import numpy as np
import pytest

jax = pytest.importorskip("jax")
jnp = pytest.importorskip("jax.numpy")
pj = pytest.importorskip("pyrnn.jax")

import pyrnn  # noqa: E402
from shared import TOLERANCE  # noqa: E402
from pyrnn.errors import InputError  # noqa: E402

GATES = {"lstm": 4, "gru": 3, "rnn_tanh": 1, "rnn_relu": 1}


# -- the oracle: plain jax.numpy ------------------------------------------------------------------
def _step(mode, x_t, states, w_ih, w_hh, b_ih, b_hh):
    gi = x_t @ w_ih.T + (0 if b_ih is None else b_ih)
    gh = states[0] @ w_hh.T + (0 if b_hh is None else b_hh)
    if mode == "lstm":
        i, f, g, o = jnp.split(gi + gh, 4, axis=-1)
        c = jax.nn.sigmoid(f) * states[1] + jax.nn.sigmoid(i) * jnp.tanh(g)
        return (jax.nn.sigmoid(o) * jnp.tanh(c), c)
    if mode == "gru":
        i_r, i_z, i_n = jnp.split(gi, 3, axis=-1)
        h_r, h_z, h_n = jnp.split(gh, 3, axis=-1)
        r, z = jax.nn.sigmoid(i_r + h_r), jax.nn.sigmoid(i_z + h_z)
        n = jnp.tanh(i_n + r * h_n)
        return ((1 - z) * n + z * states[0],)
    act = jnp.tanh if mode == "rnn_tanh" else jax.nn.relu
    return (act(gi + gh),)


def _direction(mode, x, states, weights, lengths, reverse):
    T = x.shape[0]
    order = jnp.arange(T)[::-1] if reverse else jnp.arange(T)

    def body(carry, t):
        new = _step(mode, x[t], carry, *weights)
        live = (t < lengths)[:, None] if lengths is not None else jnp.ones((x.shape[1], 1), bool)
        carry = tuple(jnp.where(live, n, c) for n, c in zip(new, carry))
        return carry, jnp.where(live, new[0], 0)

    finals, ys = jax.lax.scan(body, states, order)
    return (ys[::-1] if reverse else ys), finals


def oracle(mode, params, x, states, lengths=None, batch_first=False):
    layers = sum(1 for k in params if k.startswith("weight_ih_l") and not k.endswith("reverse"))
    D = 2 if "weight_ih_l0_reverse" in params else 1
    if batch_first:
        x = jnp.swapaxes(x, 0, 1)
    finals = [[] for _ in states]
    for layer in range(layers):
        outs = []
        for d in range(D):
            sfx = f"l{layer}" + ("_reverse" if d else "")
            weights = tuple(params.get(f"{kind}_{sfx}") for kind in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"))
            y, fin = _direction(mode, x, tuple(s[layer * D + d] for s in states), weights, lengths, bool(d))
            outs.append(y)
            for acc, f in zip(finals, fin):
                acc.append(f)
        x = outs[0] if D == 1 else jnp.concatenate(outs, axis=2)
    return (jnp.swapaxes(x, 0, 1) if batch_first else x), tuple(jnp.stack(f) for f in finals)


def pyrnn_jax(mode, params, x, states, lengths=None, batch_first=False, backend="auto"):
    kw = dict(lengths=lengths, batch_first=batch_first, backend=backend)
    if mode == "lstm":
        y, (h, c) = pj.lstm(params, x, states, **kw)
        return y, (h, c)
    if mode == "gru":
        y, h = pj.gru(params, x, states[0], **kw)
    else:
        y, h = pj.rnn(params, x, states[0], nonlinearity=mode[4:], **kw)
    return y, (h,)


def make_problem(mode, L, bidir, bias, dtype, batch_first=False, seed=0):
    cls = {"lstm": pyrnn.LSTM, "gru": pyrnn.GRU}.get(mode, pyrnn.RNN)
    kwargs = {"nonlinearity": mode[4:]} if mode.startswith("rnn") else {}
    T, B, I, H = 5, 3, 4, 6
    layer = cls(I, H, num_layers=L, bidirectional=bidir, bias=bias, seed=seed, dtype=np.float64, **kwargs)
    params = {k: jnp.asarray(v, dtype) for k, v in layer.state_dict().items()}
    rng = np.random.default_rng(seed)
    x = jnp.asarray(rng.standard_normal((B, T, I) if batch_first else (T, B, I)), dtype)
    states = tuple(jnp.asarray(rng.standard_normal((L * (1 + bidir), B, H)), dtype)
                   for _ in range(2 if mode == "lstm" else 1))
    return params, x, states


def scalar_loss(fn, mode, **kw):
    """A loss that weights every output and final state differently, so every gradient path counts."""
    def loss(params, x, states):
        y, finals = fn(mode, params, x, states, **kw)
        total = jnp.sum(jnp.sin(jnp.arange(y.size, dtype=y.dtype).reshape(y.shape)) * y)
        for i, f in enumerate(finals):
            total = total + (i + 1.5) * jnp.sum(f * f)
        return total
    return loss


def assert_trees_close(a, b, dtype, what):
    tol = TOLERANCE[np.dtype(dtype)]
    for path, (u, v) in zip(jax.tree_util.tree_leaves_with_path(a), zip(jax.tree_util.tree_leaves(a),
                                                                         jax.tree_util.tree_leaves(b))):
        np.testing.assert_allclose(np.asarray(u), np.asarray(v), rtol=tol, atol=tol,
                                   err_msg=f"{what} {jax.tree_util.keystr(path[0])}")


def check(mode, L, bidir, bias, dtype, lengths=None, batch_first=False, backend="auto"):
    params, x, states = make_problem(mode, L, bidir, bias, dtype, batch_first)
    kw = dict(lengths=lengths, batch_first=batch_first)
    out_ours = pyrnn_jax(mode, params, x, states, backend=backend, **kw)
    out_ref = oracle(mode, params, x, states, **kw)
    assert_trees_close(out_ours, out_ref, dtype, "outputs")
    grad_ours = jax.jit(jax.grad(scalar_loss(lambda *a, **k: pyrnn_jax(*a, backend=backend, **k), mode, **kw),
                                 argnums=(0, 1, 2)))(params, x, states)
    grad_ref = jax.grad(scalar_loss(oracle, mode, **kw), argnums=(0, 1, 2))(params, x, states)
    assert_trees_close(grad_ours, grad_ref, dtype, "gradients")


@pytest.fixture
def x64():
    """float64 in JAX, globally for the test (the enable_x64 context manager does not reach callbacks)."""
    before = jax.config.jax_enable_x64
    jax.config.update("jax_enable_x64", True)
    yield
    jax.config.update("jax_enable_x64", before)


CONFIGS = [(1, False, True), (2, True, False)]   # + (2, True, True) in the float64 tests


# The grid runs on the default backend: the backends' parity with each other is the layer tests'.
@pytest.mark.parametrize("config", CONFIGS, ids=lambda c: "L{}-bi{:d}-bias{:d}".format(*c))
@pytest.mark.parametrize("mode", list(GATES))
def test_float32_values_and_gradients_match_jax_numpy(mode, config):
    check(mode, *config, jnp.float32)


@pytest.mark.parametrize("mode", list(GATES))
def test_float64_with_lengths_and_batch_first(mode, x64):
    check(mode, 2, True, True, jnp.float64, lengths=jnp.array([5, 2, 4]), batch_first=True)


def test_every_backend_float64(backend, x64):
    check("lstm", 2, True, True, jnp.float64, lengths=jnp.array([4, 5, 1]), backend=backend)


def test_operands_rounded_on_the_way_to_the_callback_are_refused():
    """jax.enable_x64() as a context manager is thread-local; when the callback thread does not
    see it, float64 operands arrive as float32. The host side says so instead of computing on."""
    params, x, states = make_problem("gru", 1, False, True, jnp.float32)
    weights = tuple(np.asarray(params[k]) for k in ("weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0"))
    with pytest.raises(TypeError, match="float64 needs x64 enabled globally"):
        pj._forward_callback(("gru", False, "auto", "float64"), np.asarray(x), weights, (np.asarray(states[0][0]),),
                             None)


def test_vmap_maps_the_kernel_over_a_leading_axis():
    params, x, states = make_problem("gru", 1, False, True, jnp.float32)
    xs = jnp.stack([x, 2 * x, -x])
    ys = jax.vmap(lambda xi: pj.gru(params, xi, states[0])[0])(xs)
    for i, xi in enumerate(xs):
        np.testing.assert_allclose(ys[i], pj.gru(params, xi, states[0])[0], rtol=1e-6, atol=1e-6)


def test_state_dict_of_a_layer_is_the_parameter_format():
    layer = pyrnn.LSTM(4, 6, num_layers=2, seed=3)
    x = np.random.default_rng(1).standard_normal((5, 3, 4)).astype(np.float32)
    y, (h, c) = layer.eval()(x)
    y_jax, (h_jax, c_jax) = pj.lstm({k: jnp.asarray(v) for k, v in layer.state_dict().items()}, jnp.asarray(x))
    np.testing.assert_allclose(np.asarray(y_jax), y, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(np.asarray(c_jax), c, rtol=1e-6, atol=1e-6)


def test_errors_name_what_is_wrong():
    params, x, states = make_problem("lstm", 1, False, True, jnp.float32)
    with pytest.raises(InputError, match="no 'weight_ih_l0'"):
        pj.lstm({}, x)
    with pytest.raises(InputError, match="missing \\['bias_hh_l0'\\]"):
        pj.lstm({k: v for k, v in params.items() if k != "bias_hh_l0"}, x)
    with pytest.raises(InputError, match="gates \\* hidden_size"):
        pj.gru(params, x)                 # LSTM parameters (4H rows) given to a GRU
    with pytest.raises(InputError, match="input_size 2"):
        pj.lstm(params, x[:, :, :2])
    with pytest.raises(InputError, match="initial state 0 must have shape"):
        pj.lstm(params, x, (states[0][:, :1], states[1]))
    with pytest.raises(TypeError, match="hx must be a tuple"):
        pj.lstm(params, x, states[0])
    with pytest.raises(InputError, match="lengths must be \\(batch,\\)"):
        pj.lstm(params, x, lengths=jnp.array([1.0, 2.0, 3.0]))
    with pytest.raises(Exception, match="lengths must lie in \\[1, seq_len\\]"):
        jax.block_until_ready(pj.lstm(params, x, lengths=jnp.array([0, 2, 3]))[0])
    with pytest.raises(InputError, match="nonlinearity"):
        pj.rnn(params, x, nonlinearity="sigmoid")
    with pytest.raises(InputError, match="seq_len=0"):
        pj.lstm(params, x[:0])
    two, x2, _ = make_problem("lstm", 2, False, True, jnp.float32)
    # A wrong inner shape would make the kernels read out of bounds: refused while tracing.
    with pytest.raises(InputError, match="layer 1: weight_ih must have shape \\(24, 6\\)"):
        pj.lstm({**two, "weight_ih_l1": jnp.ones((24, 1))}, x2)


def test_empty_batch():
    params, x, states = make_problem("gru", 2, True, True, jnp.float32, batch_first=True)
    y, h = pj.gru(params, x[:0], batch_first=True)
    assert y.shape == (0, 5, 12) and h.shape == (4, 0, 6)
    grads = jax.grad(lambda p: pj.gru(p, x[:0], batch_first=True)[0].sum())(params)
    assert all(float(jnp.abs(g).max()) == 0 for g in grads.values())
