"""The minibatch training loop shared by the example models.

Every model in pyrnn.models has ``loss_and_backward(*arrays)`` (forward, loss,
backward into its ``grads``) and ``parameters`` (the triples optimizers
take), so one loop trains them all: ``fit(classifier, (X, y))``,
``fit(autoencoder, (X, X))``, ``fit(seq2seq, (src, tgt, src_lengths))``.
"""
import time

import numpy as np

from ..train.optim import Adam, clip_grad_norm, collect_parameters


def fit(model, arrays, epochs=1, batch_size=32, lr=1e-3, clip=None, optimizer=None, seed=0, lr_decay=1.0,
        on_epoch=None, max_seconds=None, log_every=0, log=print):
    """Train ``model`` on arrays aligned along axis 0, in shuffled minibatches.

    Each step: zero_grad, ``model.loss_and_backward(*(a[batch] for a in arrays))``
    (None entries stay None), clip the global gradient norm to ``clip`` (None:
    no clipping), optimizer step (default Adam(lr)). After every epoch the
    optimizer's learning rate is multiplied by ``lr_decay``. ``on_epoch(epoch, model)``
    runs after every epoch (in whatever mode it likes; training resumes in
    train mode); returning True stops early. ``max_seconds`` stops after the
    step that crosses it. Returns a history dict: ``loss`` (per step),
    ``epoch_loss`` (mean per epoch), ``steps``, ``seconds``, ``stopped``.
    """
    arrays = tuple(arrays)
    n = next(len(a) for a in arrays if a is not None)
    if any(a is not None and len(a) != n for a in arrays):
        sizes = [None if a is None else len(a) for a in arrays]
        raise ValueError(f"arrays must all have the same length along axis 0, got {sizes}")
    optimizer = optimizer or Adam(model, lr=lr)
    params = collect_parameters(model)        # once: the live arrays, clipped in place every step
    rng = np.random.default_rng(seed)
    history = {"loss": [], "epoch_loss": [], "steps": 0, "seconds": 0.0, "stopped": "epochs"}
    start = time.perf_counter()
    model.train()
    for epoch in range(epochs):
        order = rng.permutation(n)
        losses = []
        for lo in range(0, n, batch_size):
            idx = order[lo:lo + batch_size]
            model.zero_grad()
            loss = model.loss_and_backward(*(None if a is None else a[idx] for a in arrays))
            if clip:
                clip_grad_norm(params, clip)
            optimizer.step()
            losses.append(loss)
            history["steps"] += 1
            if log_every and history["steps"] % log_every == 0:
                log(f"  step {history['steps']}: loss {np.mean(losses[-log_every:]):.4f}")
            if max_seconds is not None and time.perf_counter() - start > max_seconds:
                history["stopped"] = "time"
                break
        history["loss"].extend(losses)
        history["epoch_loss"].append(float(np.mean(losses)))
        optimizer.lr *= lr_decay
        stop = on_epoch(epoch, model) if on_epoch is not None else False
        model.train()
        if history["stopped"] == "time":
            break
        if stop:
            history["stopped"] = "on_epoch"
            break
    history["seconds"] = time.perf_counter() - start
    return history
