import math


def _floats(x, like):
    return np.broadcast_to(np.asarray(x, dtype=float), np.shape(like)).astype(float)


def momentum_step(theta, grad, m, learning_rate, beta=0.9):
    theta = np.asarray(theta, dtype=float)
    g, v = _floats(grad, theta), _floats(m, theta)
    out_theta, out_m = np.empty_like(theta), np.empty_like(theta)
    for idx in np.ndindex(theta.shape):
        out_m[idx] = beta * v[idx] + learning_rate * g[idx]
        out_theta[idx] = theta[idx] - out_m[idx]
    return out_theta, out_m


def nesterov_step(theta, grad_fn, m, learning_rate, beta=0.9):
    theta = np.asarray(theta, dtype=float)
    v = _floats(m, theta)
    g = _floats(grad_fn(theta - beta * v), theta)
    new_v = np.empty_like(theta)
    for idx in np.ndindex(theta.shape):
        new_v[idx] = beta * v[idx] + learning_rate * g[idx]
    return theta - new_v, new_v


def adagrad_step(theta, grad, s, learning_rate, epsilon=1e-10):
    theta = np.asarray(theta, dtype=float)
    g, acc = _floats(grad, theta), _floats(s, theta)
    new_theta, new_acc = theta.copy(), acc.copy()
    for idx in np.ndindex(theta.shape):
        new_acc[idx] += g[idx] ** 2
        new_theta[idx] -= learning_rate * g[idx] / math.sqrt(new_acc[idx] + epsilon)
    return new_theta, new_acc


def rmsprop_step(theta, grad, s, learning_rate, beta=0.9, epsilon=1e-10):
    theta = np.asarray(theta, dtype=float)
    g, acc = _floats(grad, theta), _floats(s, theta)
    new_theta, new_acc = theta.copy(), acc.copy()
    for idx in np.ndindex(theta.shape):
        new_acc[idx] = beta * acc[idx] + (1 - beta) * g[idx] ** 2
        new_theta[idx] -= learning_rate * g[idx] / math.sqrt(new_acc[idx] + epsilon)
    return new_theta, new_acc


def adam_step(theta, grad, m, s, t, learning_rate=0.001, beta1=0.9, beta2=0.999, epsilon=1e-10):
    if t < 1:
        raise ValueError("t < 1")
    theta = np.asarray(theta, dtype=float)
    g, mm, ss = _floats(grad, theta), _floats(m, theta), _floats(s, theta)
    new_theta, new_m, new_s = theta.copy(), mm.copy(), ss.copy()
    c1, c2 = 1 - beta1**t, 1 - beta2**t
    for idx in np.ndindex(theta.shape):
        new_m[idx] = beta1 * mm[idx] + (1 - beta1) * g[idx]
        new_s[idx] = beta2 * ss[idx] + (1 - beta2) * g[idx] * g[idx]
        new_theta[idx] -= learning_rate * (new_m[idx] / c1) / math.sqrt(new_s[idx] / c2 + epsilon)
    return new_theta, new_m, new_s
