def l1_penalty(theta):
    theta = np.array(theta, dtype=float)
    return float(np.sum(np.absolute(theta)))


def l2_penalty(theta):
    theta = np.array(theta, dtype=float)
    return float(np.sum(theta**2) / 2)


def elastic_net_penalty(theta, r):
    theta = np.array(theta, dtype=float)
    l1 = np.sum(np.absolute(theta))
    l2 = np.sum(theta**2) / 2
    return float(r * l1 + (1 - r) * l2)


def dropout_train(x, rate, rng):
    if rate < 0.0 or rate >= 1.0:
        raise ValueError("rate out of range")
    x = np.array(x, dtype=float)
    u = rng.random(x.shape)
    return np.where(u >= rate, x, 0.0)


def dropout_test_weights(W, rate):
    if rate < 0.0 or rate >= 1.0:
        raise ValueError("rate out of range")
    W = np.array(W, dtype=float)
    return W * (1 - rate)


def inverted_dropout(x, rate, rng):
    if rate < 0.0 or rate >= 1.0:
        raise ValueError("rate out of range")
    x = np.array(x, dtype=float)
    u = rng.random(x.shape)
    return np.where(u >= rate, x / (1 - rate), 0.0)


def early_stopping(val_losses, patience, min_delta=0.0):
    val_losses = list(np.array(val_losses, dtype=float).flatten())
    if len(val_losses) == 0:
        raise ValueError("val_losses must not be empty")
    min_delta = abs(min_delta)
    best_loss = None
    best_epoch = 0
    wait = 0
    for epoch in range(len(val_losses)):
        loss = val_losses[epoch]
        wait = wait + 1
        with np.errstate(over="ignore"):
            if best_loss is None or np.float32(loss + min_delta) < np.float32(best_loss):
                best_loss = loss
                best_epoch = epoch
                wait = 0
            elif epoch > 0 and wait >= patience:
                return epoch, best_epoch
    return len(val_losses) - 1, best_epoch


def augment(images, rng, max_shift=2):
    images = np.array(images)
    if images.ndim < 3:
        raise ValueError("images must be (n, h, w)")
    if max_shift < 0:
        raise ValueError("max_shift must be >= 0")
    n, h, w = images.shape[0], images.shape[1], images.shape[2]
    flip = rng.random(n) < 0.5
    dy = rng.integers(-max_shift, max_shift + 1, size=n)
    dx = rng.integers(-max_shift, max_shift + 1, size=n)
    out = np.zeros_like(images)
    pad = max_shift
    for i in range(n):
        image = np.fliplr(images[i]) if flip[i] else images[i]
        widths = [(pad, pad), (pad, pad)] + [(0, 0)] * (images.ndim - 3)
        padded = np.pad(image, widths)
        top, left = pad - dy[i], pad - dx[i]
        out[i] = padded[top : top + h, left : left + w]
    return out
