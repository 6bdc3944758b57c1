"""The layer stack, written once: ``num_layers`` x ``num_directions`` single-direction runs.

torch.nn's layout: layer l reads the concatenated [forward, reverse] outputs of
layer l - 1; layer-direction k = l * D + d holds state k of every (L*D, B, W)
state array and the parameters named with suffix ``l{l}`` / ``l{l}_reverse``.

Generic over the array module ``xp`` (anything with ``concatenate(arrays,
axis)``, ``stack(arrays)`` and ``ascontiguousarray``): pyrnn's layers pass the
backend's own (NumPy, or CuPy for a device backend, so activations stay on the
device from layer to layer), pyrnn.torch passes torch ops (``pyrnn.torch.modules.TensorOps``)
over tensors (autograd sees one function per direction) and pyrnn.jax passes
jax.numpy (one custom_vjp per direction). What a direction run is - a backend
call, an autograd Function, a pure_callback - is the caller's ``run``.
"""
from .cell_specs import layer_suffix


def direction_names(spec, num_layers, num_directions, bias=True):
    """{(layer, direction): the parameter names of that layer-direction in weights order (None
    for absent biases)}, torch.nn's names (``weight_ih_l0``, ``bias_hh_l1_reverse``, ...)."""
    return {(layer, direction): spec.names(layer_suffix(layer, direction), bias)
            for layer in range(num_layers) for direction in range(num_directions)}


def stacked_state_shapes(spec, num_layers, num_directions, batch, hidden_size, proj_size=None):
    """The (L*D, B, W) shape of each state array, in ``spec.states`` order (W = H, or P for h
    with projections)."""
    return tuple((num_layers * num_directions, *shape)
                 for shape in spec.state_shapes(batch, hidden_size, proj_size))


def forward(xp, x, states0, num_layers, num_directions, run, between=None):
    """Run every layer and direction.

    x: (T, B, I); states0: one (L*D, B, W) array per state kind (anything indexable by k);
    run(layer, direction, layer_input, states) -> (y (T, B, W_y), states_n, record): one
    direction, ``states`` the k-th entry of each initial state, ``record`` whatever the caller
    keeps for its backward (None if nothing); between(layer_input) -> the next layer's input
    (dropout between layers), or None.

    Returns (y (T, B, D*W_y), finals, records): finals one (L*D, B, W) array per state kind,
    records[layer][direction].
    """
    finals = [[] for _ in states0]
    records = []
    layer_input = x
    for layer in range(num_layers):
        outputs, layer_records = [], []
        for direction in range(num_directions):
            k = layer * num_directions + direction
            y, states_n, record = run(layer, direction, layer_input, tuple(s[k] for s in states0))
            outputs.append(y)
            layer_records.append(record)
            for final, state in zip(finals, states_n):
                final.append(state)
        layer_input = outputs[0] if num_directions == 1 else xp.concatenate(outputs, axis=2)
        records.append(layer_records)
        if between is not None and layer < num_layers - 1:
            layer_input = between(layer_input)
    # One layer-direction: a view of its fresh state (stack would copy it).
    stacked = [f[0][None] if len(f) == 1 else xp.stack(f) for f in finals]
    return layer_input, stacked, records


def backward(xp, dy, dstates_n, num_layers, num_directions, width, run):
    """Backpropagate through every layer and direction, last layer first.

    dy: (T, B, D*width) like y; dstates_n: one (L*D, B, W) array per state kind;
    run(layer, direction, dy_direction, dstates) -> (dx (T, B, I_l), dstates0): one direction,
    ``dy_direction`` its contiguous (T, B, width) slice of the layer's output gradient.

    Returns (dx (T, B, I), dstates0): one (L*D, B, W) array per state kind.
    """
    dstates0 = [[None] * (num_layers * num_directions) for _ in dstates_n]
    d_out = dy
    for layer in reversed(range(num_layers)):
        d_in = None
        for direction in range(num_directions):
            k = layer * num_directions + direction
            d_dir = xp.ascontiguousarray(d_out[:, :, direction * width:(direction + 1) * width])
            dx, d0 = run(layer, direction, d_dir, tuple(d[k] for d in dstates_n))
            for slots, value in zip(dstates0, d0):
                slots[k] = value
            d_in = dx if d_in is None else d_in + dx
        d_out = d_in
    return d_out, [xp.stack(slots) for slots in dstates0]
