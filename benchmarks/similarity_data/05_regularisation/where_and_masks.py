def l1_penalty(theta):
    return float(np.abs(np.asarray(theta, dtype=float)).sum())


def l2_penalty(theta):
    t = np.asarray(theta, dtype=float)
    return float(np.dot(t.ravel(), t.ravel()) * 0.5)


def elastic_net_penalty(theta, r):
    t = np.asarray(theta, dtype=float)
    return float(r * np.abs(t).sum() + (1.0 - r) * 0.5 * np.square(t).sum())


def dropout_train(x, rate, rng):
    if not (0 <= rate < 1):
        raise ValueError(f"bad rate {rate}")
    x = np.asarray(x, dtype=float)
    mask = (rng.random(x.shape) >= rate).astype(float)
    return x * mask


def dropout_test_weights(W, rate):
    if not (0 <= rate < 1):
        raise ValueError(f"bad rate {rate}")
    return np.multiply(W, 1.0 - rate, dtype=float)


def inverted_dropout(x, rate, rng):
    if not (0 <= rate < 1):
        raise ValueError(f"bad rate {rate}")
    x = np.asarray(x, dtype=float)
    mask = (rng.random(x.shape) >= rate).astype(float)
    return x * mask / (1.0 - rate)


def early_stopping(val_losses, patience, min_delta=0.0):
    losses = np.asarray(val_losses, dtype=float).reshape(-1)
    if losses.size == 0:
        raise ValueError("empty")
    md = np.float32(abs(min_delta))
    best_idx = 0
    since = 0
    for epoch in range(1, losses.size):
        since += 1
        with np.errstate(over="ignore"):
            improved = np.float32(losses[epoch] + float(md)) < np.float32(losses[best_idx])
        if improved:
            best_idx, since = epoch, 0
        elif since >= patience:
            return int(epoch), int(best_idx)
    return int(losses.size - 1), int(best_idx)


def augment(images, rng, max_shift=2):
    images = np.asarray(images)
    if images.ndim < 3 or max_shift < 0:
        raise ValueError("bad arguments")
    n, h, w = images.shape[:3]
    flip = rng.random(n) < 0.5
    shifts_y = rng.integers(-max_shift, max_shift + 1, size=n)
    shifts_x = rng.integers(-max_shift, max_shift + 1, size=n)
    result = np.zeros_like(images)
    for k in range(n):
        img = np.flip(images[k], axis=1) if flip[k] else images[k]
        dy, dx = shifts_y[k], shifts_x[k]
        ys, yd = (slice(0, h - dy), slice(dy, h)) if dy >= 0 else (slice(-dy, h), slice(0, h + dy))
        xs, xd = (slice(0, w - dx), slice(dx, w)) if dx >= 0 else (slice(-dx, w), slice(0, w + dx))
        result[k][yd, xd] = img[ys, xs]
    return result
