"""What the neurons of a trained char-LM learned (Karpathy, Johnson and Fei-Fei 2015): ``pyrnn inspect RUN``.

The run's model reads a text one character at a time; every hidden unit h
(and, for an LSTM, every cell unit c) of every layer is recorded after each
character, and correlated with simple features of the text at that point
(:func:`text_features`): inside a string literal, inside a comment, bracket
depth, indentation, position in the line. The best unit per feature is
reported; one unit's activation colours the text in an HTML page and a PNG.

The states come from pyrnn's own cells (LSTMCell / GRUCell / RNNCell) loaded
with each layer's trained weights and stepped layer by layer: the layer
returns only its last state, the cells give every step's (h, c).

By default the text is the run's held-out part (the last 5% of its corpus,
the same cut as the trainer's validation), so no unit is scored on text it
was trained on.
"""
import hashlib
import html
import json
import os
import re

import numpy as np

from ..backends import get_backend
from ..cells import GRUCell, LSTMCell, RNNCell
from ..errors import InputError
from ..vocab import Vocabulary
from . import checkpoint
from .data import CorpusError, _read_text, load_corpus, split_train_val
from .model import LanguageModel

FEATURES = ("in_string", "in_comment", "bracket_depth", "indent", "line_position")
WARMUP = 100          # characters read before scoring: the state starts at zero, the text mid-file


# -- the features ------------------------------------------------------------------------------
def text_features(text):
    """Python-like features of text after each character: dict name -> (N,) float64.

    in_string      1 from a string's opening quote up to (not including) its closing quote; '...', "...",
                   triple quotes, backslash escapes; a one-quote string also ends at a newline
    in_comment     1 from '#' (outside strings) up to (not including) the newline
    bracket_depth  open (, [, { outside strings and comments (never below 0)
    indent         leading whitespace of the current line read so far (tab = to the next multiple of 8)
    line_position  characters since the last newline (0 right after it)
    Each value is the state once character t has been read, which is what the model's state at t has seen.
    """
    n = len(text)
    in_string, in_comment, depth = np.zeros(n), np.zeros(n), np.zeros(n)
    i, d, mode, quote = 0, 0, "code", ""
    while i < n:
        ch = text[i]
        if mode == "string":
            if ch == "\\" and i + 1 < n:                 # the escaped character cannot close the string
                in_string[i:i + 2] = 1
                depth[i:i + 2] = d
                i += 2
                continue
            if text.startswith(quote, i):                 # closing quote: inside until its last character
                in_string[i:i + len(quote) - 1] = 1
                depth[i:i + len(quote)] = d
                i += len(quote)
                mode = "code"
                continue
            if ch == "\n" and len(quote) == 1:            # an unterminated one-line string ends here
                mode = "code"
            else:
                in_string[i] = 1
        elif mode == "comment":
            if ch == "\n":
                mode = "code"
            else:
                in_comment[i] = 1
        elif ch == "#":
            mode = "comment"
            in_comment[i] = 1
        elif ch in "'\"":
            quote = text[i:i + 3] if text[i:i + 3] in ("'''", '"""') else ch
            in_string[i:i + len(quote)] = 1
            depth[i:i + len(quote)] = d
            i += len(quote)
            mode = "string"
            continue
        elif ch in "([{":
            d += 1
        elif ch in ")]}":
            d = max(d - 1, 0)
        depth[i] = d
        i += 1
    indent, position = np.zeros(n), np.zeros(n)
    col = ind = 0
    leading = True
    for i, ch in enumerate(text):
        if ch == "\n":
            col, ind, leading = 0, 0, True
        else:
            col += 1
            if leading and ch == " ":
                ind += 1
            elif leading and ch == "\t":
                ind = (ind // 8 + 1) * 8
            else:
                leading = False
        indent[i], position[i] = ind, col
    return dict(in_string=in_string, in_comment=in_comment, bracket_depth=depth, indent=indent,
                line_position=position)


# -- the model and its states -----------------------------------------------------------------
def load_run(folder, backend="auto"):
    """-> (LanguageModel in eval mode, Vocabulary, checkpoint meta); CheckpointError if unusable."""
    meta, model_state, _, _ = checkpoint.load(folder)
    try:
        vocab = Vocabulary.from_json(meta["vocab"])
        cfg = meta["config"]
        if vocab.level != "char":
            raise ValueError(f"the run is {vocab.level}-level; inspect reads character-level models")
        model = LanguageModel(len(vocab), cfg["embed"], cfg["hidden"], cfg["layers"], cfg["cell"],
                              backend=backend, seed=0)
        model.load_state_dict(model_state)
    except (KeyError, TypeError, ValueError) as exc:
        raise checkpoint.CheckpointError(f"{folder}: checkpoint content is not usable ({exc})") from None
    return model.eval(), vocab, meta


def _layer_cells(model):
    """One pyrnn cell per layer, holding that layer's trained weights (torch names: weight_ih_l{k} -> weight_ih)."""
    rnn, cell = model.rnn, model.config["cell"]
    cells = []
    for k in range(rnn.num_layers):
        inp = rnn.input_size if k == 0 else rnn.hidden_size
        c = {"lstm": LSTMCell, "gru": GRUCell, "rnn": RNNCell}[cell](inp, rnn.hidden_size, backend=rnn.backend,
                                                                       dtype=rnn.dtype)
        c.load_state_dict({name: getattr(rnn, f"{name}_l{k}") for name in ("weight_ih", "weight_hh", "bias_ih",
                                                                           "bias_hh")})
        cells.append(c.eval())
    return cells


def unit_states(model, ids):
    """ids (N,) -> dict kind -> (layers, N, H) float64: "h" (every cell type) and "c" (LSTM only).

    Layer k's cell reads layer k-1's h sequence (the embeddings for k = 0), one character per step,
    from a zero state, exactly as the layer runs it.
    """
    x = model.embedding.forward(np.asarray(ids).reshape(-1, 1))             # (N, 1, E)
    lstm = model.config["cell"] == "lstm"
    hs, cs = [], []
    for cell in _layer_cells(model):
        state, h_seq, c_seq = None, [], []
        for t in range(x.shape[0]):
            state = cell(x[t], state)
            h, c = state if lstm else (state, None)
            h_seq.append(h[0])
            if lstm:
                c_seq.append(c[0])
        hs.append(np.array(h_seq, dtype=np.float64))
        if lstm:
            cs.append(np.array(c_seq, dtype=np.float64))
        x = np.array(h_seq)[:, None, :].astype(model.rnn.dtype)
    out = {"h": np.stack(hs)}
    if lstm:
        out["c"] = np.stack(cs)
    return out


# -- correlations ----------------------------------------------------------------------------------
def correlations(states, features, skip=0):
    """Pearson r of every unit with every feature, from character ``skip`` on.

    states: kind -> (layers, N, H); features: name -> (N,). Returns name -> kind -> (layers, H) r
    (r = 0 for a unit that never changes; every r is nan for a feature that never changes).
    """
    out = {}
    for name, f in features.items():
        f = np.asarray(f, dtype=np.float64)[skip:]
        fz = f - f.mean()
        fn = np.sqrt(np.sum(fz * fz))
        out[name] = {}
        for kind, s in states.items():
            a = s[:, skip:, :]
            az = a - a.mean(axis=1, keepdims=True)
            an = np.sqrt(np.sum(az * az, axis=1))                             # (layers, H)
            with np.errstate(invalid="ignore", divide="ignore"):
                r = np.einsum("lnh,n->lh", az, fz) / (an * fn)
            r = np.where(an > 0, r, 0.0) if fn > 0 else np.full_like(an, np.nan)
            out[name][kind] = np.clip(r, -1, 1)
    return out


def best_units(corr):
    """name -> dict(unit "c1:42", kind, layer, index, r) of the largest |r|, or None for a constant feature."""
    best = {}
    for name, by_kind in corr.items():
        top = None
        for kind, r in by_kind.items():
            if np.all(np.isnan(r)):
                continue
            layer, index = np.unravel_index(int(np.argmax(np.abs(r))), r.shape)
            if top is None or abs(r[layer, index]) > abs(top["r"]):
                top = dict(unit=f"{kind}{layer}:{index}", kind=kind, layer=int(layer), index=int(index),
                           r=float(r[layer, index]))
        best[name] = top
    return best


_UNIT = re.compile(r"^([hc])(\d+):(\d+)$")


def parse_unit(spec, layers, hidden, has_cell):
    """'c1:42' (cell unit 42 of layer 1; 'h' for hidden) -> (kind, layer, index), checked against the model."""
    m = _UNIT.match(spec.strip())
    if not m:
        raise InputError(f"--unit must look like h0:17 or c1:42 (kind h or c, layer, index), got {spec!r}")
    kind, layer, index = m.group(1), int(m.group(2)), int(m.group(3))
    if kind == "c" and not has_cell:
        raise InputError(f"--unit {spec}: this model has no cell state c (only LSTMs have one); use h")
    if layer >= layers or index >= hidden:
        raise InputError(f"--unit {spec}: the model has layers 0..{layers - 1} and units 0..{hidden - 1}")
    return kind, layer, index


# -- the text ----------------------------------------------------------------------------------------
def held_out_text(meta):
    """The run's held-out text: the last 5% of its corpus, from the first file that starts inside it
    (so that strings, comments and brackets are tracked from a file's beginning), else from its first line."""
    config = meta["config"]
    text, files = load_corpus(config["corpus"])
    if hashlib.sha256(text.encode("utf-8")).hexdigest() != meta.get("corpus_sha256"):
        raise CorpusError(f"the run's corpus ({', '.join(config['corpus']) or 'default corpus'}) changed since "
                          f"training, so its held-out part is unknown; give a text with --text FILE")
    _, val = split_train_val(np.arange(len(text)))          # the trainer's cut (on characters)
    start = int(val[0])
    offset = 0
    for path in files:                                      # load_corpus joins the files in this order
        if offset >= start:
            return text[offset:]
        offset += len(_read_text(path))
    rest = text[start:]
    return rest[rest.find("\n") + 1:] if "\n" in rest else rest


def _known(text, vocab):
    """text without the characters the vocabulary lacks (-> text, number dropped)."""
    kept = "".join(ch for ch in text if ch in vocab.index)
    return kept, len(text) - len(kept)


# -- pictures ----------------------------------------------------------------------------------------
def _colour(v):
    """v in [-1, 1] -> (r, g, b) in [0, 1]: white at 0, red positive, blue negative (as in the paper)."""
    v = float(np.clip(v, -1, 1))
    return (1.0, 1 - v, 1 - v) if v >= 0 else (1 + v, 1 + v, 1.0)


def _scaled(act):
    """Activations -> [-1, 1]: h already is; c is divided by its largest magnitude."""
    top = float(np.max(np.abs(act))) if act.size else 0.0
    return act / top if top > 1 else act


def write_html(path, text, act, title, table):
    """An HTML page: text in a <pre>, every character's background coloured by act (N,); hover shows the value."""
    vals = _scaled(act)
    spans = []
    for ch, v, raw in zip(text, vals, act):
        r, g, b = (int(255 * x) for x in _colour(v))
        shown = html.escape(ch) if ch != "\n" else "\n"
        spans.append(f'<span style="background:rgb({r},{g},{b})" title="{raw:.3f}">{shown}</span>')
    rows = "".join(f"<tr><td>{html.escape(k)}</td><td>{html.escape(v)}</td></tr>" for k, v in table)
    page = (f"<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>{html.escape(title)}</title>"
            "<style>body{font-family:sans-serif;margin:2em} pre{font-family:monospace;font-size:13px;"
            "line-height:1.25} td{padding:0 1em 0 0}</style></head><body>"
            f"<h2>{html.escape(title)}</h2><p>red: positive, blue: negative, white: 0 (hover for the value)</p>"
            f"<table>{rows}</table><pre>{''.join(spans)}</pre></body></html>\n")
    with open(path, "w", encoding="utf-8") as f:
        f.write(page)


def write_png(path, text, act, title, max_lines=40, max_cols=100):
    """The first max_lines lines of text (cut at max_cols), each character on a cell coloured by act."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    vals = _scaled(act)
    lines, cur = [], []
    for i, ch in enumerate(text):
        if ch == "\n":
            lines.append(cur)
            cur = []
            if len(lines) == max_lines:
                break
        elif len(cur) < max_cols:
            cur.append((ch, vals[i]))
    else:
        if cur:
            lines.append(cur)
    cols = max([len(line) for line in lines] + [1])
    grid = np.ones((len(lines), cols, 3))
    for y, line in enumerate(lines):
        for x, (_, v) in enumerate(line):
            grid[y, x] = _colour(v)
    fig = plt.figure(figsize=(0.085 * cols + 0.4, 0.17 * len(lines) + 0.6), dpi=110)
    ax = fig.add_axes([0.01, 0.01, 0.98, 1 - 0.45 / (0.17 * len(lines) + 0.6)])
    ax.imshow(grid, aspect="auto", interpolation="nearest")
    for y, line in enumerate(lines):
        for x, (ch, _) in enumerate(line):
            if not ch.isspace():
                ax.text(x, y, ch, ha="center", va="center", fontsize=7, family="monospace")
    ax.set_axis_off()
    ax.set_title(title, fontsize=9)
    fig.savefig(path)
    plt.close(fig)


# -- the command ---------------------------------------------------------------------------------------
def add_arguments(parser):
    """The options of ``pyrnn inspect`` (registered by pyrnn.cli)."""
    # dest run_dir: pyrnn.cli dispatches on args.run
    parser.add_argument("run_dir", metavar="RUN", help="a folder written by `pyrnn train` (character level)")
    parser.add_argument("--text", metavar="FILE", help="text to read (default: the run's held-out last 5%%)")
    parser.add_argument("--chars", type=int, default=20000, help="characters to read (default %(default)s)")
    parser.add_argument("--unit", help="unit to colour the text by: h0:17 (hidden unit 17 of layer 0) or c1:42 "
                                       "(cell unit of layer 1); default: the best-correlated unit")
    parser.add_argument("--show", type=int, default=3000, help="characters on the HTML page (default %(default)s)")
    parser.add_argument("--out", metavar="DIR", help="where unit.html, unit.png and correlations.json go "
                                                     "(default RUN/inspect)")
    parser.add_argument("--backend", default="auto", help="backend name or 'auto' (see `pyrnn info`)")


def command(args):
    """``pyrnn inspect``: states over the text, correlations, best units, the page and the PNG. Returns 0."""
    if args.chars < WARMUP + 2 or args.show < 1:
        raise InputError(f"--chars must be at least {WARMUP + 2} and --show at least 1")
    try:
        get_backend(args.backend)
    except (TypeError, ValueError) as exc:              # an unknown name lists the available ones
        raise InputError(str(exc)) from None
    model, vocab, meta = load_run(args.run_dir, args.backend)
    cfg = model.config
    chosen = parse_unit(args.unit, cfg["layers"], cfg["hidden"], cfg["cell"] == "lstm") if args.unit else None
    if args.text:
        text, _ = load_corpus([args.text])
        source = args.text
    else:
        text = held_out_text(meta)
        source = "the run's held-out last 5%"
    text, dropped = _known(text[:args.chars], vocab)
    if len(text) < WARMUP + 2:
        raise InputError(f"{source} has only {len(text)} characters the model knows; need at least {WARMUP + 2}")
    states = unit_states(model, vocab.encode(text))
    feats = text_features(text)
    corr = correlations(states, feats, skip=WARMUP)
    best = best_units(corr)
    scored = {k: v for k, v in best.items() if v is not None}
    if chosen:
        kind, layer, index = chosen
    elif scored:
        top = max(scored.values(), key=lambda b: abs(b["r"]))
        kind, layer, index = top["kind"], top["layer"], top["index"]
    else:
        kind, layer, index = "h", 0, 0
    unit = f"{kind}{layer}:{index}"
    act = states[kind][layer, :, index]
    out = args.out or os.path.join(args.run_dir, "inspect")
    os.makedirs(out, exist_ok=True)
    unit_r = {name: (None if np.isnan(corr[name][kind][layer, index]) else float(corr[name][kind][layer, index]))
              for name in FEATURES}
    kinds = "hidden" if kind == "h" else "cell"
    title = f"{kinds} unit {index} of layer {layer} ({unit}) over {min(args.show, len(text))} characters of {source}"
    table = [(f"r with {name}", "constant here" if r is None else f"{r:+.3f}") for name, r in unit_r.items()]
    write_html(os.path.join(out, "unit.html"), text[:args.show], act[:args.show], title, table)
    best_r = ", ".join(f"{k} {v:+.2f}" for k, v in unit_r.items() if v is not None)
    write_png(os.path.join(out, "unit.png"), text[:args.show], act[:args.show], f"{unit}: {best_r}")
    report = dict(run=os.path.abspath(args.run_dir), text=source, chars=len(text), dropped_chars=dropped,
                  scored_from=WARMUP, units={k: int(np.prod(s.shape[::2])) for k, s in states.items()},
                  best=best, unit=unit, unit_r=unit_r)
    with open(os.path.join(out, "correlations.json"), "w", encoding="utf-8") as f:
        json.dump(report, f, indent=2)
        f.write("\n")
    n_units = sum(report["units"].values())
    print(f"pyrnn inspect: {len(text):,} characters of {source}"
          + (f" ({dropped} unknown characters dropped)" if dropped else "")
          + f"; {n_units} units ({', '.join(f'{n} {k}' for k, n in report['units'].items())}) of "
            f"{model.config['layers']}x{model.config['hidden']} {model.config['cell'].upper()}")
    print("best unit per feature (Pearson r, from character %d on):" % WARMUP)
    for name in FEATURES:
        b = best[name]
        print(f"  {name:14s} " + ("constant in this text" if b is None else f"{b['unit']:>8s}  r = {b['r']:+.3f}"))
    print(f"{unit} colours unit.html and unit.png; correlations.json in {out}")
    return 0
