"""How students' self-checks judge a public case: the grader's checks, rewritten with numpy only.

Pasted, with `selfcheck_random.py`, `selfcheck_randomness.py` and `selfcheck_runtime.py` after it, into every otter test that `build` stores in a
notebook's metadata (see that module for why). Each function mirrors a check of `judging/checks.py`,
`questions/` or `judging/models.py` and must give the same verdict and message on public cases;
`tests/unit/test_selfcheck.py` holds them to it. Statistical checks keep the grader's bound (a
correct sampler fails with probability at most 1e-6) with numpy-only formulas instead of scipy.
"""

import math

import numpy as np

from ..wire import Raised, decode_arg  # in the package only: build pastes the wire above

NO_ANSWER = {"Missing", "NoOutput", "Timeout", "BadOutput"}
ALPHA, SIGMAS = 1e-6, 5.5  # judging/stats.py: a correct sampler fails with probability <= 1e-6


# --- judging a case as the grader does (judging/checks.py, questions/, judging/models.py) --------------------


def _floats(value):
    if isinstance(value, np.ndarray):
        return value.astype(float)
    if isinstance(value, (list, tuple)):
        try:
            parts = [_floats(v) for v in value]
            return None if any(p is None for p in parts) else np.array(parts, dtype=float)
        except ValueError:
            return None
    return np.array(value, dtype=float) if isinstance(value, (int, float, bool, np.number)) else None


def _raised(exp, got):
    if isinstance(exp, Raised):
        if isinstance(got, Raised):
            return got.type == exp.type, "" if got.type == exp.type else f"raised {got.type}, expected {exp.type}"
        return False, f"should raise {exp.type} but returned a value"
    return (False, f"raised {got.type}: {got.message}") if isinstance(got, Raised) else None


def _pre(exp, got, modified):
    return _raised(exp, got) or (
        (False, "modifies its input (copy before changing arrays in place)") if modified else None
    )


def _arrays(exp, got, rtol, atol, same_shape):
    arr = _floats(got)
    if arr is None:
        return False, f"returned {type(got).__name__}, expected an array of numbers"
    if arr.shape != exp.shape:
        try:
            assert not same_shape
            arr = np.broadcast_to(arr, exp.shape)
        except (AssertionError, ValueError):
            return False, f"wrong shape: got {arr.shape}, expected {exp.shape}"
    if np.isnan(arr).any() and not np.isnan(exp.astype(float)).any():
        return False, "returned nan (overflow or 0/0?)"
    ok = np.allclose(arr, exp.astype(float), rtol=rtol, atol=atol, equal_nan=True)
    return bool(ok), "" if ok else "wrong values"


def _match(exp, got, rtol, atol, same_shape):
    if isinstance(exp, tuple):
        if not isinstance(got, (tuple, list)) or len(got) != len(exp):
            what = f"{len(got)} values" if isinstance(got, (tuple, list)) else type(got).__name__
            return False, f"should return a tuple of {len(exp)} values, returned {what}"
        for i, (e, g) in enumerate(zip(exp, got)):
            ok, message = _match(e, g, rtol, atol, same_shape)
            if not ok:
                return False, f"item {i} of the returned tuple: {message}"
        return True, ""
    if isinstance(exp, dict):  # trajectories, theta first: it goes wrong first
        if not isinstance(got, dict) or set(got) != set(exp):
            return False, "did not return the expected values at every step"
        for name in sorted(exp, key=lambda n: (n != "theta", n)):
            ok, message = _arrays(exp[name], got[name], rtol, atol, same_shape)
            if not ok:
                arr = _floats(got[name])
                bad = (
                    []
                    if arr is None or arr.shape != exp[name].shape
                    else [s + 1 for s in range(len(arr)) if not np.allclose(arr[s], exp[name][s], rtol=rtol, atol=atol)]
                )
                return False, f"{name}{f' from step {bad[0]}' if bad else ''}: {message}"
        return True, ""
    if isinstance(exp, np.ndarray):
        return _arrays(exp, got, rtol, atol, same_shape)
    return exp == got, "" if exp == got else "wrong value"


def _exact(spec, call, inputs, exp, got, modified):
    early = _raised(exp, got)
    if early:
        return early
    e, g = _floats(exp), _floats(got)
    if g is None or e is None or g.shape != e.shape:
        return False, f"should return {len(exp)} integers" if isinstance(exp, tuple) else "wrong type or shape"
    return bool(np.array_equal(e, g)), "" if np.array_equal(e, g) else "wrong value"


def ks_pvalue(samples, cdf):
    """Kolmogorov-Smirnov with Stephens' approximation of the Kolmogorov distribution; scipy (the
    grader's) computes it exactly. Near the 1e-6 threshold they differ by about 1 % of p."""
    x = np.sort(samples.ravel().astype(float))
    n, f = len(x), cdf(x)
    d = max((np.arange(1, n + 1) / n - f).max(), (f - np.arange(n) / n).max())
    lam = d * (math.sqrt(n) + 0.12 + 0.11 / math.sqrt(n))
    return min(1.0, max(0.0, 2 * sum((-1) ** (k - 1) * math.exp(-2 * k * k * lam * lam) for k in range(1, 101))))


def _binomial_ok(count, n, p):
    return count == round(n * p) if p in (0.0, 1.0) else abs(count - n * p) <= SIGMAS * math.sqrt(n * p * (1 - p))


def chi2_sf(x, dof):
    """Chi-square survival function, by sf(k + 2) = sf(k) + (x/2)^(k/2) e^(-x/2) / Gamma(k/2 + 1)."""
    k, sf = (2, math.exp(-x / 2)) if dof % 2 == 0 else (1, math.erfc(math.sqrt(x / 2)))
    while k < dof:
        sf += math.exp((k / 2) * math.log(x / 2) - x / 2 - math.lgamma(k / 2 + 1)) if x > 0 else 0.0
        k += 2
    return sf


def _uniform_counts_ok(counts):
    if len(counts) < 2:
        return True
    expected = counts.sum() / len(counts)
    return chi2_sf(float(((counts - expected) ** 2 / expected).sum()), len(counts) - 1) >= ALPHA


def _phi(z):
    return 0.5 * (1 + np.asarray(np.frompyfunc(math.erf, 1, 1)(np.asarray(z, dtype=float) / math.sqrt(2)), dtype=float))


def _target_cdf(target):
    """The cdf of the distribution the grader expects, from the parameters `build` read off the
    grader's check for this public case (no formula for them travels with the notebook)."""
    family = target["family"]
    if family == "uniform":
        return lambda v: np.clip((v + target["limit"]) / (2 * target["limit"]), 0, 1)
    if family == "truncated_normal":
        sd, low, high = target["sd"], _phi(-target["cut"]), _phi(target["cut"])
        return lambda v: np.clip((_phi(v / sd) - low) / (high - low), 0, 1)
    return lambda v: _phi(v / target["sd"])


def _samples(samples, shape, target, mode, distribution):
    arr = _floats(samples)
    if arr is None:
        return False, "did not return an array of numbers"
    if arr.shape != tuple(shape):
        return False, f"wrong shape: got {arr.shape}, expected {tuple(shape)}"
    if not np.isfinite(arr).all():
        return False, "returned nan or inf"
    bound = math.inf if target["bound"] is None else target["bound"]
    if np.abs(arr).max() > bound * (1 + 1e-6):
        return False, f"values outside the {distribution} bound for mode {mode}"
    p = ks_pvalue(arr, _target_cdf(target))
    if p < ALPHA:
        return False, (
            f"the samples do not follow the expected {distribution} distribution for mode {mode} "
            f"(Kolmogorov-Smirnov p = {p:.1e}); check the scale, the fan and the distribution"
        )
    return True, ""


def _variance_scaling(spec, call, inputs, exp, got, modified):
    kw = call["kwargs"]
    return _raised(exp, got) or _samples(
        got,
        decode_arg(call["args"][0], inputs),
        spec["target"],
        kw.get("mode", "fan_in"),
        kw.get("distribution", "truncated_normal"),
    )


def _he_avg(spec, call, inputs, exp, got, modified):
    early = _raised(exp, got)
    if early:
        return early
    got = got if isinstance(got, dict) else {}
    info = got.get("info") if isinstance(got.get("info"), dict) else {}
    config = info.get("config") if isinstance(info.get("config"), dict) else {}
    wanted = {"scale": 2.0, "mode": "fan_avg", "distribution": "uniform"}
    if info.get("class") != "VarianceScaling" or any(config.get(k) != v for k, v in wanted.items()):
        return False, (
            "should be VarianceScaling(scale=2., mode='fan_avg', distribution='uniform'); "
            f"got {info.get('class')} with { ({k: config.get(k) for k in wanted}) }"
        )
    return _samples(got.get("samples"), tuple(call["shape"]), spec["target"], "fan_avg", "uniform")


def _allclose(spec, call, inputs, exp, got, modified):
    return _pre(exp, got, modified) or _match(exp, got, spec["rtol"], spec["atol"], spec["same_shape"])


def _init_name(config):
    init = config.get("kernel_initializer")
    return str(init.get("class_name")) if isinstance(init, dict) else init if isinstance(init, str) else None


def _differences(expected, got, compare_compile=True):
    if not isinstance(got, dict) or not isinstance(got.get("layers"), list):
        return ["did not return a Keras model"]
    exp_kinds = [layer["class"] for layer in expected["layers"]]
    got_kinds = [layer.get("class") if isinstance(layer, dict) else "?" for layer in got["layers"]]
    if exp_kinds != got_kinds:
        return [f"layers are {got_kinds}, expected {exp_kinds}"]
    diffs = []
    for i, (e, g) in enumerate(zip(expected["layers"], got["layers"])):
        ec, gc, where = e.get("config") or {}, g.get("config") or {}, f"layer {i} ({e['class']})"
        diffs += [
            f"{where}: {key} is {gc.get(key)!r}, expected {ec.get(key)!r}"
            for key in ("units", "activation", "use_bias", "epsilon", "momentum", "rate")
            if ec.get(key) != gc.get(key)
        ]
        if _init_name(ec) != _init_name(gc):
            diffs.append(f"{where}: kernel_initializer is {_init_name(gc)}, expected {_init_name(ec)}")
        for key, say in (
            ("trainable", "{where}: trainable is {g}, expected {e}"),
            ("params", "{where}: {g} parameters, expected {e}"),
        ):
            if e.get(key) != g.get(key):
                diffs.append(say.format(where=where, g=g.get(key), e=e.get(key)))
    if expected.get("input_shape") != got.get("input_shape"):
        diffs.append(f"input shape is {got.get('input_shape')}, expected {expected.get('input_shape')}")
    if compare_compile:
        ecomp, gcomp = expected.get("compiled") or {}, got.get("compiled") or {}
        diffs += [
            f"compiled {key} is {gcomp.get(key)!r}, expected {ecomp.get(key)!r}"
            for key in ("loss", "optimizer")
            if ecomp.get(key) != gcomp.get(key)
        ]
        elr, glr = ecomp.get("learning_rate"), gcomp.get("learning_rate")
        if isinstance(elr, float) and not (isinstance(glr, float) and abs(glr - elr) <= 1e-6 * abs(elr)):
            diffs.append(f"learning rate is {glr!r}, expected {elr!r}")
    return diffs


def _architecture(spec, call, inputs, exp, got, modified):
    early = _raised(exp, got)
    diffs = [] if early else _differences(exp, got, spec["compare_compile"])
    return early or (not diffs, "; ".join(diffs[:6]))


def _b_on_a(spec, call, inputs, exp, got, modified):
    early = _raised(exp, got)
    if early:
        return early
    got = got if isinstance(got, dict) else {}
    problems = _differences(exp, got)
    if got.get("model_a_changed_by_build") or got.get("model_a_changed_by_training"):
        problems.insert(
            0,
            "training model_B_on_A changed model_A: clone model_A (keras.models.clone_model "
            "and set_weights) instead of reusing its layer objects",
        )
    if got.get("starts_from_model_a") is not True:
        problems.append("the reused layers do not start from model_A's weights")
    return not problems, "; ".join(problems[:6])


def task_split(x, y, labels):
    """The images of a task and their labels in it, by the table `build` read off the grader's
    split (models.split_tasks on the ten labels): which labels the task keeps, and as what."""
    table = np.full(10, -1, dtype=np.int64)
    table[labels["keep"]] = labels["as"]
    return x[table[y] >= 0], table[y][table[y] >= 0]


def _trained(spec, call, inputs, exp, got, modified):
    """Accuracy on the real test split (keras' copy), by Keras itself rather than the grader's
    numpy forward pass: the same number for the layers the grader supports."""
    if isinstance(got, Raised):
        return False, f"{got.type}: {got.message}"
    import keras

    (_, _), (x, y) = keras.datasets.fashion_mnist.load_data()
    x, y = x.astype(np.float64) / 255.0, y.astype(np.int64)
    x, y = task_split(x, y, spec["labels"])
    out = np.asarray(got["model"].predict(x.astype(np.float32), batch_size=2000, verbose=0), dtype=float)
    if out.ndim != 2:
        return False, f"the model's output has shape {out.shape[1:]}, expected a vector per image"
    acc = float(((out[:, 0] > 0.5).astype(np.int64) if out.shape[1] == 1 else out.argmax(axis=1)).__eq__(y).mean())
    if acc < spec["minimum"]:
        return False, f"test accuracy {acc:.4f} is below the required {spec['minimum']:.2f}"
    return True, f"test accuracy {acc:.4f} (required {spec['minimum']:.2f})"
