"""Submissions for the end-to-end suite, kept as edits of the reference notebooks.

Each variant starts from `solutions/<assignment>.ipynb`, replaces the cells that define the named
functions (or appends cells), optionally drops the `train` cells, and states the outcome it must
get: the questions it must lose (score below max); every other question must keep full marks.
Deriving them from the solutions keeps them in step with the content.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Variant:
    name: str
    assignment: str
    replace: dict[str, str] = field(default_factory=dict)  # function name -> new cell source
    append: tuple[str, ...] = ()  # extra code cells at the end
    insert_first: tuple[str, ...] = ()  # extra code cells before the first code cell
    drop_train: bool = False
    lost: frozenset[str] = frozenset()  # questions that must score below max
    note: str = ""


A01, A03, A04, A05 = ("01_activations_and_initialisation", "03_transfer_learning", "04_optimizers", "05_regularisation")

# --- correct but different: must keep full marks ---------------------------------------------
ALTERNATIVES = [
    Variant(
        "math_exp_loop_sigmoid",
        A01,
        replace={
            "sigmoid": """import math
def sigmoid(z):
    z = np.asarray(z, dtype=float)
    out = np.empty(z.shape)
    for i, v in np.ndenumerate(z):
        out[i] = 1 / (1 + math.exp(-v)) if v >= 0 else math.exp(v) / (1 + math.exp(v))
    return out""",
            "relu": """def relu(z):
    z = np.array(z, dtype=float)
    z[z < 0] = 0          # a mask on a copy
    return z""",
            "elu": """def elu(z, alpha=1.0):
    z = np.array(z, dtype=float)
    mask = z <= 0
    z[mask] = alpha * (np.exp(z[mask]) - 1)
    return z""",
        },
    ),
    Variant(
        "scipy_expit_float32",
        A01,
        replace={
            "sigmoid": """from scipy.special import expit
def sigmoid(z):
    z = np.asarray(z)
    return expit(z.astype(np.float32) if z.dtype == np.float32 else z.astype(float))""",
            "leaky_relu": """def leaky_relu(z, alpha=0.01):
    return np.maximum(z, np.multiply(alpha, z)) if alpha <= 1 else np.minimum(z, np.multiply(alpha, z))""",
        },
    ),
    Variant(
        "lists_instead_of_arrays",
        A04,
        replace={
            "momentum_step": """def momentum_step(theta, grad, m, learning_rate, beta=0.9):
    theta, grad, m = (np.asarray(v, dtype=float) for v in (theta, grad, m))
    m = beta * m + learning_rate * grad
    return (theta - m).tolist(), m.tolist()""",
        },
    ),
]

# --- buggy: each loses exactly what it should --------------------------------------------------
BUGGY = [
    Variant(
        "wrong_elu_branch",
        A01,
        replace={
            "elu": """def elu(z, alpha=1.0):
    z = np.asarray(z, dtype=float)
    return np.where(z < 0, z, alpha * (np.exp(np.minimum(z, 50)) - 1))""",
        },
        lost=frozenset({"elu", "selu", "backprop_gradients", "gradient_ratio_log10"}),
        note="selu calls elu; backprop (and the ratio through it) uses the notebook's own elu and selu",
    ),
    Variant(
        "sigmoid_overflows",
        A01,
        replace={
            "sigmoid": """def sigmoid(z):
    z = np.asarray(z, dtype=float)
    return np.exp(z) / (1 + np.exp(z))""",
        },
        lost=frozenset({"sigmoid", "sigmoid_derivative"}),
        note="the derivative calls sigmoid",
    ),
    Variant(
        "sigmoid_naive_warns",
        A01,
        replace={
            "sigmoid": """def sigmoid(z):
    return 1 / (1 + np.exp(-np.asarray(z, dtype=float)))""",
        },
        lost=frozenset({"sigmoid", "sigmoid_derivative"}),
        note="right values, but np.exp overflows (a RuntimeWarning) for large negative z; the derivative calls it",
    ),
    Variant(
        "adam_without_bias_correction",
        A04,
        replace={
            "adam_step": """def adam_step(theta, grad, m, s, t, learning_rate=0.001, beta1=0.9, beta2=0.999, epsilon=1e-10):
    m = beta1 * np.asarray(m, float) + (1 - beta1) * np.asarray(grad, float)
    s = beta2 * np.asarray(s, float) + (1 - beta2) * np.asarray(grad, float) ** 2
    return np.asarray(theta, float) - learning_rate * m / np.sqrt(s + epsilon), m, s""",
        },
        lost=frozenset({"adam_step"}),
    ),
    Variant(
        "adam_overwrites_moments",
        A04,
        replace={
            "adam_step": """def adam_step(theta, grad, m, s, t, learning_rate=0.001, beta1=0.9, beta2=0.999, epsilon=1e-10):
    m = beta1 * np.asarray(m, float) + (1 - beta1) * np.asarray(grad, float)
    s = beta2 * np.asarray(s, float) + (1 - beta2) * np.asarray(grad, float) ** 2
    m = m / (1 - beta1 ** t)      # the lecture's literal steps 3-4
    s = s / (1 - beta2 ** t)
    return np.asarray(theta, float) - learning_rate * m / np.sqrt(s + epsilon), m, s""",
        },
        lost=frozenset({"adam_step"}),
    ),
    Variant(
        "momentum_modifies_input",
        A04,
        replace={
            "momentum_step": """def momentum_step(theta, grad, m, learning_rate, beta=0.9):
    m *= beta
    m += learning_rate * np.asarray(grad, float)
    return np.asarray(theta, float) - m, m.copy()""",
        },
        lost=frozenset({"momentum_step"}),
    ),
    Variant(
        "split_without_relabelling",
        A03,
        drop_train=True,
        replace={
            "split_dataset": """def split_dataset(X, y):
    is_B = (y == 5) | (y == 6)
    return (X[~is_B], y[~is_B]), (X[is_B], (y[is_B] == 6).astype(np.float32))""",
        },
        lost=frozenset({"split_dataset", "model_A", "model_B", "model_B_on_A"}),
        note="train cells dropped: the trained-model questions are missing",
    ),
    Variant(
        "b_on_a_not_cloned",
        A03,
        drop_train=True,
        replace={
            "build_model_B_on_A": """def build_model_B_on_A(model_A):
    model = keras.Sequential([keras.Input(shape=(28, 28)), *model_A.layers[:-1],
                              keras.layers.Dense(1, activation="sigmoid")])
    for layer in model.layers[:-1]:
        layer.trainable = False
    model.compile(loss="binary_crossentropy", optimizer=keras.optimizers.SGD(learning_rate=1e-3),
                  metrics=["accuracy"])
    return model""",
        },
        lost=frozenset({"build_model_B_on_A", "model_A", "model_B", "model_B_on_A"}),
    ),
    Variant(
        "dropout_keeps_rate",
        A05,
        replace={
            "dropout_train": """def dropout_train(x, rate, rng):
    x = np.asarray(x, dtype=float)
    return x * (rng.random(x.shape) < rate)""",
        },
        lost=frozenset({"dropout_train"}),
    ),
]

# --- hostile or broken, contained: the questions it does not touch keep full marks -------------
HOSTILE = [
    Variant(
        "network_and_secrets",
        A05,
        insert_first=(
            "import socket\ns = socket.create_connection(('1.1.1.1', 53), timeout=3)",
            "print(open('/etc/shadow').read())",
            # the checkout beside a venv that lives in it (.venv): only the venv is mounted, not solutions/
            "import os, sys\nprint(open(os.path.join(os.path.dirname(sys.prefix), 'solutions', '05_regularisation.ipynb')).read())",
        ),
    ),
    Variant("exit_in_a_cell", A05, insert_first=("import os\nos._exit(0)",), note="a second pass skips the cell"),
    Variant(
        "patched_numpy_cannot_help",
        A05,
        insert_first=(
            "import numpy as np\nnp.allclose = lambda *a, **k: True\nnp.isclose = lambda *a, **k: True\n"
            "np.array_equal = lambda *a, **k: True",
        ),
        replace={
            "l1_penalty": "def l1_penalty(theta):\n    return 0.0",
        },
        lost=frozenset({"l1_penalty"}),
    ),
]

# --- randomness: functions that ignore or misuse their generator ---------------------------------
# Each passes the distribution checks (counts, shapes, Kolmogorov-Smirnov) and loses its question
# only through the randomness cases (judging/randomness.py). The alternatives draw differently
# from the reference, but randomly and reproducibly: they keep full marks.
ALTERNATIVES += [
    Variant(
        "random_functions_drawn_differently",
        A05,
        replace={
            "dropout_train": """def dropout_train(x, rate, rng):
    if not 0.0 <= rate < 1.0:
        raise ValueError("rate must be in [0, 1)")
    x = np.asarray(x, dtype=float)
    return x * rng.binomial(1, 1.0 - rate, size=x.shape)""",
            "augment": """def augment(images, rng, max_shift=2):
    images = np.asarray(images)
    if images.ndim < 3 or int(max_shift) < 0:
        raise ValueError("bad input")
    m = int(max_shift)
    out = np.zeros_like(images)
    h, w = images.shape[1:3]
    for i, image in enumerate(images):          # one image at a time, its own draws
        image = image[:, ::-1] if rng.integers(2) else image
        dy, dx = rng.integers(-m, m + 1, size=2)
        padded = np.pad(image, [(m, m), (m, m)] + [(0, 0)] * (image.ndim - 2))
        out[i] = padded[m - dy:m - dy + h, m - dx:m - dx + w]
    return out""",
        },
    ),
]

BUGGY += [
    Variant(
        "variance_scaling_sorted_quantiles",
        A01,
        replace={
            "variance_scaling": """from scipy import stats as _stats
def variance_scaling(shape, scale=1.0, mode="fan_in", distribution="truncated_normal", seed=None):
    fan_in, fan_out = (int(d) for d in shape)
    if mode not in ("fan_in", "fan_out", "fan_avg") or distribution not in (
            "truncated_normal", "untruncated_normal", "uniform"):
        raise ValueError("bad mode or distribution")
    n = {"fan_in": fan_in, "fan_out": fan_out, "fan_avg": (fan_in + fan_out) / 2}[mode]
    s = scale / max(1.0, n)
    dist = {"uniform": _stats.uniform(-math.sqrt(3 * s), 2 * math.sqrt(3 * s)),
            "untruncated_normal": _stats.norm(0, math.sqrt(s)),
            "truncated_normal": _stats.truncnorm(-2, 2, scale=math.sqrt(s) / 0.87962566103423978)}[distribution]
    size = fan_in * fan_out
    return dist.ppf((np.arange(size) + 0.5) / size).reshape(fan_in, fan_out)   # the same for every seed""",
        },
        lost=frozenset({"variance_scaling"}),
        note="perfect quantiles: the distribution check alone passes them",
    ),
    Variant(
        "he_avg_with_a_fixed_seed",
        A01,
        replace={
            "he_avg_initializer": """def he_avg_initializer():
    return keras.initializers.VarianceScaling(scale=2.0, mode="fan_avg", distribution="uniform", seed=42)""",
        },
        lost=frozenset({"he_avg_initializer"}),
        note="every layer built with it starts with the same kernel",
    ),
    Variant(
        "dropout_always_the_first_elements",
        A05,
        replace={
            "dropout_train": """def dropout_train(x, rate, rng):
    if not 0.0 <= rate < 1.0:
        raise ValueError("rate must be in [0, 1)")
    out = np.array(x, dtype=float)
    out.flat[:round(rate * out.size)] = 0.0     # exactly the right count, never random
    return out""",
        },
        lost=frozenset({"dropout_train"}),
    ),
    Variant(
        "inverted_dropout_from_global_numpy",
        A05,
        replace={
            "inverted_dropout": """def inverted_dropout(x, rate, rng):
    if not 0.0 <= rate < 1.0:
        raise ValueError("rate must be in [0, 1)")
    x = np.asarray(x, dtype=float)
    return np.where(np.random.random(x.shape) >= rate, x / (1.0 - rate), 0.0)   # ignores rng""",
        },
        lost=frozenset({"inverted_dropout"}),
        note="random, but a seed does not reproduce it",
    ),
    Variant(
        "augment_cycles_through_the_transforms",
        A05,
        replace={
            "augment": """import itertools
def augment(images, rng, max_shift=2):
    images = np.asarray(images)
    if images.ndim < 3 or int(max_shift) < 0:
        raise ValueError("bad input")
    m = int(max_shift)
    combos = list(itertools.product((False, True), range(-m, m + 1), range(-m, m + 1)))
    h, w = images.shape[1:3]
    out = np.zeros_like(images)
    for i, image in enumerate(images):          # image i gets combination i, in order
        flip, dy, dx = combos[i % len(combos)]
        image = image[:, ::-1] if flip else image
        padded = np.pad(image, [(m, m), (m, m)] + [(0, 0)] * (image.ndim - 2))
        out[i] = padded[m - dy:m - dy + h, m - dx:m - dx + w]
    return out""",
        },
        lost=frozenset({"augment"}),
        note="uniform counts, but the same for every seed",
    ),
]
BUGGY += [
    Variant(
        "dropout_half_the_rows_repeated",
        A05,
        replace={
            "dropout_train": """def dropout_train(x, rate, rng):
    if not 0.0 <= rate < 1.0:
        raise ValueError("rate must be in [0, 1)")
    x = np.asarray(x, dtype=float)
    half = rng.random(((x.shape[0] + 1) // 2,) + x.shape[1:]) >= rate
    return np.where(np.concatenate([half, half])[:x.shape[0]], x, 0.0)   # the second half repeats the first""",
        },
        lost=frozenset({"dropout_train"}),
        note="every count is right; the mask's second half is its first",
    ),
    Variant(
        "augment_half_the_batch_repeated",
        A05,
        replace={
            "augment": """def augment(images, rng, max_shift=2):
    images = np.asarray(images)
    if images.ndim < 3 or int(max_shift) < 0:
        raise ValueError("bad input")
    m, n = int(max_shift), len(images)
    half = (n + 1) // 2
    flips, shifts = rng.random(half) < 0.5, rng.integers(-m, m + 1, (half, 2))
    h, w = images.shape[1:3]
    out = np.zeros_like(images)
    for i, image in enumerate(images):          # image i + n/2 gets image i's choices
        image = image[:, ::-1] if flips[i % half] else image
        dy, dx = shifts[i % half]
        padded = np.pad(image, [(m, m), (m, m)] + [(0, 0)] * (image.ndim - 2))
        out[i] = padded[m - dy:m - dy + h, m - dx:m - dx + w]
    return out""",
        },
        lost=frozenset({"augment"}),
        note="neighbours differ; the batch's second half repeats its first",
    ),
    Variant(
        "variance_scaling_half_the_rows_repeated",
        A01,
        replace={
            "variance_scaling": """def variance_scaling(shape, scale=1.0, mode="fan_in", distribution="truncated_normal", seed=None):
    fan_in, fan_out = (int(d) for d in shape)
    if mode not in ("fan_in", "fan_out", "fan_avg") or distribution not in (
            "truncated_normal", "untruncated_normal", "uniform"):
        raise ValueError("bad mode or distribution")
    n = {"fan_in": fan_in, "fan_out": fan_out, "fan_avg": (fan_in + fan_out) / 2}[mode]
    s = scale / max(1.0, n)
    rng = np.random.default_rng(seed)
    half = ((fan_in + 1) // 2, fan_out)
    if distribution == "uniform":
        w = rng.uniform(-math.sqrt(3 * s), math.sqrt(3 * s), half)
    elif distribution == "untruncated_normal":
        w = rng.normal(0.0, math.sqrt(s), half)
    else:
        std = math.sqrt(s) / 0.87962566103423978
        w = rng.normal(0.0, std, half)
        bad = np.abs(w) > 2 * std
        while bad.any():
            w[bad] = rng.normal(0.0, std, int(bad.sum()))
            bad = np.abs(w) > 2 * std
    return np.concatenate([w, w])[:fan_in]   # the second half of the rows repeats the first""",
        },
        lost=frozenset({"variance_scaling"}),
        note="the distribution and the neighbours are right; half the rows are drawn",
    ),
]
# --- end of randomness ---------------------------------------------------------------------------

# --- gradients: backpropagation, the experiment, clipping (notebook 01, sections 8-10) ------------
_BACKPROP = """def backprop_gradients(X, weights, activation):
    slopes_of = {{"sigmoid": sigmoid_derivative, "relu": lambda z: (z > 0).astype(float),
                 "tanh": lambda z: 1 - np.tanh(z) ** 2, "leaky_relu": leaky_relu_derivative,
                 "elu": elu_derivative,
                 "selu": lambda z: 1.0507009873554804934193349852946
                 * elu_derivative(z, 1.6732632423543772848170429916717)}}
    phi = {{"sigmoid": sigmoid, "relu": relu, "tanh": np.tanh, "leaky_relu": leaky_relu, "elu": elu, "selu": selu}}
    if activation not in phi:
        raise ValueError(activation)
    a, inputs, zs = np.asarray(X, dtype=float), [], []
    for w in weights:
        inputs.append(a)
        zs.append(a @ np.asarray(w, dtype=float))
        a = phi[activation](zs[-1])
    grad_a, grads = {start}, []
    for w, x, z in zip(weights[::-1], inputs[::-1], zs[::-1]):
        delta = {delta}
        grads.insert(0, x.T @ delta)
        grad_a = delta @ np.asarray(w, dtype=float).T
    return {returns}"""
ALTERNATIVES += [
    Variant(
        "gradients_as_lists",
        A01,
        replace={
            "backprop_gradients": _BACKPROP.format(
                start="a / len(a)", delta="grad_a * slopes_of[activation](z)", returns="grads"
            ),
            "gradient_norms": """def gradient_norms(grads):
    return [float(np.linalg.norm(np.ravel(g))) for g in grads]""",
            "clip_by_global_norm": """def clip_by_global_norm(grads, max_norm):
    norm = np.sqrt(sum(np.sum(np.square(g, dtype=float)) for g in grads))
    return [np.asarray(g, dtype=float) * min(1.0, max_norm / norm) if norm > 0 else np.asarray(g, dtype=float)
            for g in grads], norm""",
        },
        note="lists instead of tuples, a numpy float for the norm: the contract allows both",
    ),
]
BUGGY += [
    Variant(
        "backprop_sums_over_the_batch",
        A01,
        replace={
            "backprop_gradients": _BACKPROP.format(
                start="a", delta="grad_a * slopes_of[activation](z)", returns="tuple(grads)"
            ),
        },
        lost=frozenset({"backprop_gradients"}),
        note="m times too large; the ratio does not see a common factor",
    ),
    Variant(
        "backprop_forgets_the_activation_derivative",
        A01,
        replace={
            "backprop_gradients": _BACKPROP.format(start="a / len(a)", delta="grad_a", returns="tuple(grads)"),
        },
        lost=frozenset({"backprop_gradients", "gradient_ratio_log10"}),
        note="the ratio calls backprop_gradients",
    ),
    Variant(
        "gradient_norms_rms",
        A01,
        replace={
            "gradient_norms": """def gradient_norms(grads):
    return np.array([np.sqrt(np.mean(np.asarray(g, dtype=float) ** 2)) for g in grads])""",
        },
        lost=frozenset({"gradient_norms"}),
        note="the experiment's layers are all width x width: same ratio",
    ),
    Variant(
        "gradient_ratio_natural_log",
        A01,
        replace={
            "gradient_ratio_log10": """def gradient_ratio_log10(activation, init, depth, width, seed):
    stds = {"normal": 1.0, "glorot": math.sqrt(1 / width), "he": math.sqrt(2 / width), "lecun": math.sqrt(1 / width)}
    if init not in stds:
        raise ValueError(init)
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((100, width))
    weights = [rng.normal(0, stds[init], (width, width)) for _ in range(depth)]
    norms = gradient_norms(backprop_gradients(X, weights, activation))
    return float(np.log(norms[0] / norms[-1]))""",
        },
        lost=frozenset({"gradient_ratio_log10"}),
    ),
    Variant(
        "clip_each_tensor_by_its_own_norm",
        A01,
        replace={
            "clip_by_global_norm": """def clip_by_global_norm(grads, max_norm):
    grads = [np.asarray(g, dtype=float) for g in grads]
    norm = math.sqrt(sum(float(np.sum(g ** 2)) for g in grads))
    return tuple(g * max_norm / max(np.linalg.norm(g), max_norm) for g in grads), norm""",
        },
        lost=frozenset({"clip_by_global_norm"}),
        note="Keras' clipnorm, not global_clipnorm: the direction changes",
    ),
]
BUGGY += [
    Variant(
        "clip_scales_the_callers_arrays",
        A01,
        replace={
            "clip_by_global_norm": """def clip_by_global_norm(grads, max_norm):
    norm = math.sqrt(sum(float(np.sum(np.square(g))) for g in grads))
    factor = max_norm / max(norm, max_norm)
    for g in grads:
        g *= factor          # the caller's arrays, scaled in place
    return tuple(grads), norm""",
        },
        lost=frozenset({"clip_by_global_norm"}),
        note="the right values, but the contract says not to modify grads",
    ),
]
# --- end of gradients ------------------------------------------------------------------------------

# --- near misses: what a careful student gets almost right (the failure must say how close) -------
A02 = "02_batch_normalisation"
NEAR_MISSES = [
    Variant(
        "adam_in_float32",
        A04,
        replace={
            "adam_step": """def adam_step(theta, grad, m, s, t, learning_rate=0.001, beta1=0.9, beta2=0.999, epsilon=1e-10):
    if t < 1:
        raise ValueError(f"t is the 1-based step number, got {t}")
    f = np.float32
    theta, grad, m, s = (np.asarray(v, dtype=f) for v in (theta, grad, m, s))
    new_m = f(beta1) * m + f(1.0 - beta1) * grad
    new_s = f(beta2) * s + f(1.0 - beta2) * grad * grad
    m_hat = new_m / f(1.0 - beta1**t)
    s_hat = new_s / f(1.0 - beta2**t)
    new_theta = theta - f(learning_rate) * m_hat / np.sqrt(s_hat + f(epsilon))
    return new_theta.astype(float), new_m.astype(float), new_s.astype(float)""",
        },
        lost=frozenset({"adam_step"}),
        note="float32 arithmetic: right to about 1e-7, the tolerance is rtol 1e-6",
    ),
    Variant(
        "batch_norm_inference_epsilon_outside_the_root",
        A02,
        replace={
            "batch_norm_inference": """def batch_norm_inference(x, gamma, beta, moving_mean, moving_var, epsilon=1e-3):
    x = np.asarray(x, dtype=float)
    return gamma * (x - moving_mean) / (np.sqrt(moving_var) + epsilon) + beta""",
        },
        lost=frozenset({"batch_norm_inference"}),
        note="sqrt(var) + eps instead of sqrt(var + eps)",
    ),
    Variant(
        "early_stopping_counts_epochs_from_1",
        A05,
        replace={
            "early_stopping": """def early_stopping(val_losses, patience, min_delta=0.0):
    losses = np.asarray(val_losses, dtype=float).ravel().tolist()
    if not losses:
        raise ValueError("val_losses is empty")
    delta, best, best_epoch, wait = abs(float(min_delta)), None, 1, 0
    with np.errstate(over="ignore"):
        for epoch, current in enumerate(losses, start=1):
            wait += 1
            if best is None or np.float32(current + delta) < np.float32(best):
                best, best_epoch, wait = current, epoch, 0
            elif wait >= patience and epoch > 1:
                return epoch, best_epoch
    return len(losses), best_epoch""",
        },
        lost=frozenset({"early_stopping"}),
        note="1-based epochs where the contract says 0-based",
    ),
]
