def l1_penalty(theta):
    return float(sum(abs(v) for v in np.ravel(np.asarray(theta, dtype=float))))


def l2_penalty(theta):
    flat = np.ravel(np.asarray(theta, dtype=float))
    return float(sum(v * v for v in flat) / 2)


def elastic_net_penalty(theta, r):
    return r * l1_penalty(theta) + (1 - r) * l2_penalty(theta)


def _check_rate(rate):
    if rate < 0 or rate >= 1:
        raise ValueError("rate must be in [0, 1)")


def dropout_train(x, rate, rng):
    _check_rate(rate)
    x = np.array(x, dtype=float)
    u = rng.random(x.shape)
    x[u < rate] = 0.0
    return x


def dropout_test_weights(W, rate):
    _check_rate(rate)
    return (1 - rate) * np.array(W, dtype=float)


def inverted_dropout(x, rate, rng):
    _check_rate(rate)
    x = np.array(x, dtype=float)
    u = rng.random(x.shape)
    x[u < rate] = 0.0
    x /= 1 - rate
    return x


def early_stopping(val_losses, patience, min_delta=0.0):
    values = [float(v) for v in np.ravel(val_losses)]
    if len(values) == 0:
        raise ValueError("no losses")
    best_value, best_at, waited = values[0], 0, 0
    for e in range(1, len(values)):
        waited += 1
        with np.errstate(over="ignore"):
            better = np.float32(values[e] + abs(min_delta)) < np.float32(best_value)
        if better:
            best_value, best_at, waited = values[e], e, 0
        elif waited >= patience:
            return e, best_at
    return len(values) - 1, best_at


def augment(images, rng, max_shift=2):
    images = np.asarray(images)
    if images.ndim < 3:
        raise ValueError("expected (n, h, w)")
    if max_shift < 0:
        raise ValueError("max_shift < 0")
    n, h, w = images.shape[:3]
    flips = rng.random(n) < 0.5
    dys = rng.integers(-max_shift, max_shift + 1, size=n)
    dxs = rng.integers(-max_shift, max_shift + 1, size=n)
    out = np.zeros_like(images)
    for i in range(n):
        img = images[i][:, ::-1] if flips[i] else images[i]
        dy, dx = int(dys[i]), int(dxs[i])
        for y in range(h):
            for x in range(w):
                sy, sx = y - dy, x - dx
                if 0 <= sy < h and 0 <= sx < w:
                    out[i, y, x] = img[sy, sx]
    return out
